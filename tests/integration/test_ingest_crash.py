"""Ingestion killed with SIGKILL at several points of a large load, then rerun to completion.

The job runs as a real ``spark-submit``-style process (``jobs/ingest_jdbc.py``) in its own
process group, so a kill takes the Python driver and its JVM down together, as a lost node would.
Kill points: by timer while the first load is reading and writing, and by named failpoints
exactly between the bronze commit and the watermark commit, before an increment's MERGE commit,
and after the watermark but before the run is recorded as finished.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from tests.integration.relocate import relocated_lake
from tests.integration.source_rows import insert_rows, reset, update_every

from aml.config import PROJECT_ROOT, Config
from aml.ingest.reconcile import reconcile
from aml.ingest.spec import load_table_specs
from aml.ops import latest_runs
from aml.sources import db

pytestmark = pytest.mark.slow

ROWS = 400_000


def _start(overrides: Path, failpoint: str | None = None) -> subprocess.Popen:
    env = {**os.environ, "AML_OVERRIDES": str(overrides), "PYTHONUNBUFFERED": "1"}
    env.pop("AML_FAILPOINT", None)
    if failpoint:
        env["AML_FAILPOINT"] = failpoint
    return subprocess.Popen(
        [sys.executable, str(PROJECT_ROOT / "jobs" / "ingest_jdbc.py"), "--table", "transactions"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _kill_group(proc: subprocess.Popen) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=60)


def _run_until(proc: subprocess.Popen, marker: str, extra_seconds: float) -> list[str]:
    """Reads the job's log until ``marker`` appears, waits a little more, then SIGKILLs it."""
    lines = []
    deadline = time.monotonic() + 300
    for line in proc.stdout:
        lines.append(line)
        if marker in line:
            time.sleep(extra_seconds)
            break
        assert time.monotonic() < deadline, "job never reached " + marker
    _kill_group(proc)
    return lines


def _run_to_end(proc: subprocess.Popen) -> tuple[int, str]:
    out, _ = proc.communicate(timeout=600)
    _kill_group(proc)  # the JVM of a failpoint-killed driver
    return proc.returncode, out


@pytest.fixture()
def crash_env(services: Config, tmp_path: Path):
    config, overrides = relocated_lake(services, tmp_path, rows_per_partition=100_000)
    conn = db.connect(config, "postgres")
    reset(conn)
    yield config, conn, overrides
    reset(conn)
    conn.close()


def test_killed_at_any_point_a_rerun_gives_bronze_equal_to_the_source(spark, crash_env):
    config, conn, overrides = crash_env
    insert_rows(conn, "postgresql", 1, ROWS)

    # 1. killed by timer while the first load reads and writes its partitions
    lines = _run_until(_start(overrides), "reading postgres.transactions", 4.0)
    assert not any("succeeded" in line for line in lines)
    # 2. killed right after the first bronze commit, before the watermark moves
    code, out = _run_to_end(_start(overrides, "after_bronze_commit"))
    assert code == -signal.SIGKILL and "failpoint after_bronze_commit" in out
    # more source traffic: new rows and corrections of old ones
    insert_rows(conn, "postgresql", ROWS + 1, ROWS + 20_000)
    update_every(conn, 97, 1, ROWS)
    # 3. killed before the increment's MERGE commits
    code, out = _run_to_end(_start(overrides, "before_bronze_commit"))
    assert code == -signal.SIGKILL and "failpoint before_bronze_commit" in out
    # 4. killed by timer during the increment (planning, reading or merging)
    _run_until(_start(overrides), "reading postgres.transactions", 2.0)
    # 5. killed after the watermark commit, before the run is recorded as finished
    code, out = _run_to_end(_start(overrides, "after_watermark_commit"))
    assert code == -signal.SIGKILL and "failpoint after_watermark_commit" in out

    # a clean rerun, then bronze must equal the source exactly
    code, out = _run_to_end(_start(overrides))
    assert code == 0, out[-3000:]
    result = reconcile(spark, config, "postgres", load_table_specs(config)["transactions"])
    assert result.source_rows == ROWS + 20_000
    assert result.equal, result

    statuses = sorted(r.status for r in latest_runs(spark, config).select("status").collect())
    assert statuses.count("SUCCEEDED") == 1
    assert statuses.count("RUNNING") >= 4  # the killed runs stay visible
