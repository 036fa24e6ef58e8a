"""``aml run`` (``jobs/run_pipeline.py``): ingest, silver and gold in one process, each step
recorded as its own job; a step that fails stops the run with its exit code and nothing after
it runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from tests.integration.keys import ephemeral_keys
from tests.integration.relocate import relocated_lake
from tests.integration.source_rows import insert_rows, reset

from aml.config import PROJECT_ROOT, Config
from aml.ops import latest_runs
from aml.services.isolated import free_ports
from aml.sources import db

ROWS = 3_000


def _run(overrides: Path, report: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "AML_OVERRIDES": str(overrides), "PYTHONUNBUFFERED": "1"}
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "jobs" / "run_pipeline.py"), "--report", str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _runs(spark, config: Config) -> dict[str, list[str]]:
    """Job name -> the statuses of its runs."""
    rows = latest_runs(spark, config).select("job", "status").collect()
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row.job, []).append(row.status)
    return {job: sorted(statuses) for job, statuses in out.items()}


def test_a_failed_step_stops_the_run_then_a_run_does_all_three_steps(
    spark, services: Config, tmp_path
):
    config, overrides = relocated_lake(services, tmp_path)
    with db.connect(config, "postgres") as conn:
        reset(conn)
        insert_rows(conn, "postgresql", 1, ROWS)
    report = tmp_path / "report.json"
    with ephemeral_keys():
        # the source is unreachable: ingest fails (exit 3), silver and gold never start
        (closed,) = free_ports(1)
        postgres = {**config.section("sources")["postgres"], "port": closed}
        broken = config.with_settings("sources", postgres=postgres).write_overrides(
            tmp_path / "broken.toml"
        )
        failed = _run(broken, report)
        assert failed.returncode == 3, failed.stderr[-3000:]
        assert "source unavailable" in failed.stderr
        assert _runs(spark, config) == {"ingest_jdbc": ["FAILED"]}
        assert not Path(config.table_path("silver", "transactions")).exists()

        done = _run(overrides, report)
    assert done.returncode == 0, done.stderr[-3000:]
    steps = json.loads(report.read_text())["steps"]
    assert [s["step"] for s in steps] == ["ingest", "silver", "gold"]
    # ingest also reads whatever customers and accounts the source holds; silver read the rows
    assert steps[0]["rows_written"] >= ROWS and steps[1]["rows_read"] == ROWS
    assert set(steps[2]["phases"]) >= {"evaluate", "validate", "publish"}
    assert _runs(spark, config) == {
        "ingest_jdbc": ["FAILED", "SUCCEEDED"],
        "build_silver": ["SUCCEEDED"],
        "build_gold": ["SUCCEEDED"],
    }
    # each step's run id is the one ops.job_runs holds, with its phases
    recorded = {
        r.run_id: r.phases
        for r in latest_runs(spark, config).where("status = 'SUCCEEDED'").collect()
    }
    assert {s["run_id"] for s in steps} == set(recorded)
    assert set(recorded[steps[2]["run_id"]]) >= {"evaluate", "validate", "publish"}
