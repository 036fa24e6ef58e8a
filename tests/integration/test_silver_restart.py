"""The silver job killed with SIGKILL between its commits, then rerun, ends with the same tables as
an uninterrupted build."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
from cryptography.fernet import Fernet
from tests.integration.relocate import relocated_lake
from tests.integration.test_silver import BAD, GOOD_ROWS, _row, write_bronze

from aml.config import PROJECT_ROOT
from aml.silver import job as silver_job

pytestmark = pytest.mark.slow

COMPARED = ("transaction_id", "amount", "sender_account_token", "receiver_account_token",
            "warnings", "payment_type")  # fmt: skip


def _run_job(overrides, failpoint=None):
    env = {**os.environ, "AML_OVERRIDES": str(overrides)}
    env.pop("AML_FAILPOINT", None)
    if failpoint:
        env["AML_FAILPOINT"] = failpoint
    proc = subprocess.run(
        [sys.executable, str(PROJECT_ROOT / "jobs" / "build_silver.py")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        start_new_session=True,
    )
    return proc.returncode, proc.stdout + proc.stderr


def _snapshot(spark, config):
    silver = spark.read.format("delta").load(config.table_path("silver", "transactions"))
    quarantine = spark.read.format("delta").load(config.table_path("quarantine", "transactions"))
    return (
        sorted(tuple(r) for r in silver.select(*COMPARED).collect()),
        sorted((r.quarantine_key, r.reason_code) for r in quarantine.collect()),
    )


def test_killed_between_commits_the_rerun_matches_a_clean_build(
    spark, base_config, tmp_path, monkeypatch
):
    monkeypatch.setenv("AML_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("AML_TOKEN_KEY", Fernet.generate_key().decode())
    rows = [_row(*r[:3]) for r in BAD] + [_row(*r) for r in GOOD_ROWS]
    (tmp_path / "crashed").mkdir()
    # the crashed lake is shared with the job subprocess through the overrides file
    crashed, overrides = relocated_lake(base_config, tmp_path / "crashed")
    clean = base_config.with_lake(tmp_path / "clean")
    for config in (crashed, clean):
        write_bronze(spark, config, rows)

    for point in ("after_silver_commit", "before_silver_progress_transactions"):
        code, out = _run_job(overrides, point)
        assert code == -signal.SIGKILL, out[-2000:]
        assert f"failpoint {point}" in out
    more = [
        _row("9", {"amount": "77.00"}, GOOD_ROWS[0][2]),
        _row("1", {"amount": "-3.00"}, GOOD_ROWS[3][2]),
    ]
    for config in (crashed, clean):
        write_bronze(spark, config, more)
    code, out = _run_job(overrides, "after_silver_commit")
    assert code == -signal.SIGKILL
    code, out = _run_job(overrides)
    assert code == 0, out[-3000:]

    silver_job.run(spark, clean)
    assert _snapshot(spark, crashed) == _snapshot(spark, clean)
