"""``aml run`` (``jobs/run_pipeline.py``): ingest, silver and gold in one process, each step
recorded as its own job; a step that fails stops the run with its exit code and nothing after
it runs; a run killed after its last commit, before it writes its watermarks, is rerun to the
tables of a clean build; resident cycles in one session take new rows exactly once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.integration.gold_data import comparable
from tests.integration.keys import ephemeral_keys
from tests.integration.relocate import relocated_lake
from tests.integration.source_rows import insert_rows, reset

from aml import delta_io
from aml.config import PROJECT_ROOT, Config
from aml.gold import job as gold_job
from aml.ops import latest_runs
from aml.run import PipelineRun, Schedule, resident, run
from aml.services.isolated import free_ports
from aml.sources import db

ROWS = 3_000


def _run(
    overrides: Path, report: Path, failpoint: str | None = None
) -> subprocess.CompletedProcess:
    env = {**os.environ, "AML_OVERRIDES": str(overrides), "PYTHONUNBUFFERED": "1"}
    env.pop("AML_FAILPOINT", None)
    if failpoint:
        env["AML_FAILPOINT"] = failpoint
    return subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "jobs" / "run_pipeline.py"), "--report", str(report)],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def _gold(spark, config: Config, table: str):
    return spark.read.format("delta").load(config.table_path("gold", table))


def _runs(spark, config: Config) -> dict[str, list[str]]:
    """Job name -> the statuses of its runs."""
    rows = latest_runs(spark, config).select("job", "status").collect()
    out: dict[str, list[str]] = {}
    for row in rows:
        out.setdefault(row.job, []).append(row.status)
    return {job: sorted(statuses) for job, statuses in out.items()}


def test_a_failed_step_stops_the_run_a_killed_run_is_rerun_then_all_three_steps_are_done(
    spark, services: Config, tmp_path
):
    """... and then two resident cycles (``aml run --every``'s loop) in one session take the
    rows inserted before each of them exactly once: nothing of a cycle's state (watermarks,
    Delta snapshots, held frames) is stale in the next; gold ends as a rebuild from scratch."""
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

        # killed after gold's publish: every step committed its tables, none of the watermarks
        # they moved was written (the run writes them in one commit at its end)
        killed = _run(overrides, report, "after_gold_publish")
        assert killed.returncode == -signal.SIGKILL, killed.stderr[-3000:]
        assert not Path(config.table_path("ops", "watermarks")).exists()

        done = _run(overrides, report)
        assert done.returncode == 0, done.stderr[-3000:]
        steps = json.loads(report.read_text())["steps"]
        assert [s["step"] for s in steps] == ["ingest", "silver", "gold"]
        # the rerun re-read every row from the unmoved watermarks (ingest also reads whatever
        # customers and accounts the source holds), and bronze already held them all
        assert steps[0]["rows_read"] >= ROWS and steps[1]["rows_read"] == ROWS
        assert steps[0]["rows_written"] == 0
        assert set(steps[2]["phases"]) >= {"evaluate", "validate", "publish"}
        silver_df = spark.read.format("delta").load(config.table_path("silver", "transactions"))
        assert silver_df.count() == silver_df.select("transaction_id").distinct().count() == ROWS
        assert _runs(spark, config) == {
            "ingest_jdbc": ["FAILED", "SUCCEEDED", "SUCCEEDED"],
            "build_silver": ["SUCCEEDED", "SUCCEEDED"],
            "build_gold": ["RUNNING", "SUCCEEDED"],
        }
        # each step's run id is the one ops.job_runs holds, with its phases
        recorded = {r.run_id: r.phases for r in latest_runs(spark, config).collect()}
        assert {s["run_id"] for s in steps} <= set(recorded)
        assert set(recorded[steps[2]["run_id"]]) >= {"evaluate", "validate", "publish"}
        # the watermarks the steps moved (ingest's tables, silver's, gold's) came in one commit
        marks_path = config.table_path("ops", "watermarks")
        assert delta_io.current_version(spark, marks_path) == 0
        marks_df = spark.read.format("delta").load(marks_path)
        moved = {(r.source, r.table_name) for r in marks_df.collect()}
        assert moved >= {("postgres", "transactions"), ("silver", "gold")}, moved

        results: list[PipelineRun] = []

        new_ids = {1: (ROWS + 1, ROWS + 300), 2: (ROWS + 301, ROWS + 400)}

        def run_once(cycle: int) -> int:
            with db.connect(config, "postgres") as conn:
                insert_rows(conn, "postgresql", *new_ids[cycle])
            results.append(run(spark, config))
            return 0

        assert resident(run_once, Schedule(0, runs=2), threading.Event(), threading.Event()) == 0
        written = [{s.step: s.rows_written for s in r.steps} for r in results]
        assert [w["ingest"] for w in written] == [300, 100], written
        silver_df = spark.read.format("delta").load(config.table_path("silver", "transactions"))
        assert silver_df.count() == silver_df.select("transaction_id").distinct().count()
        assert silver_df.count() == ROWS + 400
        statuses = _runs(spark, config)
        assert statuses["build_silver"] == ["SUCCEEDED"] * 4, statuses

        # gold as the reruns and the cycles left it is gold rebuilt from scratch
        gold_tables = ("suspicious_transactions", "alerts")
        rerun = {t: comparable(_gold(spark, config, t)) for t in gold_tables}
        gold_job.run(spark, config, full_refresh=True)
        assert rerun == {t: comparable(_gold(spark, config, t)) for t in gold_tables}
