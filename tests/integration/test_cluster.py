"""A real Spark standalone cluster (master + two workers from the pip-installed pyspark) runs the
ingestion job through spark-submit, with the package and jars shipped as in a deployment."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from tests.integration.relocate import relocated_lake
from tests.integration.source_rows import insert_rows, reset

from aml.cluster import StandaloneCluster, submit_command, submit_env
from aml.config import PROJECT_ROOT, Config
from aml.ingest.reconcile import reconcile
from aml.ingest.spec import load_table_specs
from aml.services.isolated import free_ports
from aml.sources import db

pytestmark = pytest.mark.slow


@pytest.fixture()
def cluster(tmp_path_factory: pytest.TempPathFactory):
    port, webui = free_ports(2)
    standalone = StandaloneCluster(
        run_dir=tmp_path_factory.mktemp("spark-cluster"),
        workers=2,
        cores_per_worker=1,
        memory_per_worker="1g",
        port=port,
        webui_port=webui,
    )
    standalone.start()
    yield standalone
    standalone.stop()
    assert standalone.pids() == []


def test_ingestion_job_runs_on_a_standalone_cluster(spark, services: Config, cluster, tmp_path):
    config, overrides = relocated_lake(services, tmp_path, rows_per_partition=10_000)
    with db.connect(config, "postgres") as conn:
        reset(conn)
        insert_rows(conn, "postgresql", 1, 40_000)

    cmd = submit_command(
        config, PROJECT_ROOT / "jobs" / "ingest_jdbc.py", ["--table", "transactions"], cluster.url
    )
    env = {**submit_env(config), "AML_OVERRIDES": str(overrides)}
    proc = subprocess.run(cmd, env=env, cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert "wrote 40000 to bronze" in proc.stdout

    # executors ran on both workers, each loading the shipped package zip
    executor_logs = list(Path(cluster.run_dir / "work").glob("app-*/*/stderr"))
    assert len(executor_logs) >= 2
    assert any(
        "aml.zip" in p.read_text(errors="replace") or p.stat().st_size > 0 for p in executor_logs
    )
    result = reconcile(spark, config, "postgres", load_table_specs(config)["transactions"])
    assert result.equal and result.source_rows == 40_000
    with db.connect(config, "postgres") as conn:
        reset(conn)
