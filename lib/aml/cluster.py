"""A Spark standalone cluster from the pip-installed pyspark, and spark-submit command lines.

The pyspark wheel ships ``sbin/spark-daemon.sh`` and ``bin/spark-class`` but not the
``start-master.sh``/``start-worker.sh`` wrappers, so the daemons are started through
``spark-daemon.sh`` directly. Everything binds to 127.0.0.1. :func:`submit_command` builds the
command line a real deployment would use: the package shipped as a zip with ``--py-files``, the
resolved jars with ``--jars``, ``spark-conf/spark-defaults.conf`` as the properties file.
"""

from __future__ import annotations

import argparse
import logging
import os
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path

from aml import jars
from aml.config import PROJECT_ROOT, Config, load_config

log = logging.getLogger(__name__)

MASTER_CLASS = "org.apache.spark.deploy.master.Master"
WORKER_CLASS = "org.apache.spark.deploy.worker.Worker"


class ClusterError(RuntimeError):
    """The standalone cluster did not start or stop as asked."""


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).parent


@dataclass(frozen=True)
class StandaloneCluster:
    """Master plus ``workers`` workers on loopback, state under ``run_dir``."""

    run_dir: Path
    workers: int = 2
    cores_per_worker: int = 1
    memory_per_worker: str = "2g"
    host: str = "127.0.0.1"
    port: int = 7077
    webui_port: int = 18080

    @property
    def url(self) -> str:
        return f"spark://{self.host}:{self.port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        env.update(
            SPARK_HOME=str(spark_home()),
            SPARK_LOCAL_IP=self.host,
            SPARK_LOG_DIR=str(self.run_dir / "logs"),
            SPARK_PID_DIR=str(self.run_dir / "pids"),
            SPARK_WORKER_DIR=str(self.run_dir / "work"),
            SPARK_IDENT_STRING="aml",
            PYSPARK_PYTHON=sys.executable,
        )
        return env

    def _daemon(self, action: str, cls: str, instance: int, *args: str) -> None:
        script = spark_home() / "sbin" / "spark-daemon.sh"
        cmd = ["bash", str(script), action, cls, str(instance), *args]
        proc = subprocess.run(cmd, env=self._env(), capture_output=True, text=True, check=False)
        if proc.returncode != 0 and action == "start":
            raise ClusterError(f"{cls} #{instance} did not start: {proc.stdout}{proc.stderr}")

    def _logs(self, cls: str) -> list[Path]:
        return sorted((self.run_dir / "logs").glob(f"*{cls.rsplit('.', 1)[1]}*.out"))

    def start(self, timeout: float = 90.0) -> None:
        """Starts master and workers and waits until every worker has registered."""
        for sub in ("logs", "pids", "work"):
            (self.run_dir / sub).mkdir(parents=True, exist_ok=True)
        self._daemon(
            "start",
            MASTER_CLASS,
            1,
            "--host",
            self.host,
            "--port",
            str(self.port),
            "--webui-port",
            str(self.webui_port),
        )
        _wait_port(self.host, self.port, timeout)
        for i in range(1, self.workers + 1):
            self._daemon(
                "start",
                WORKER_CLASS,
                i,
                "--host",
                self.host,
                "--cores",
                str(self.cores_per_worker),
                "--memory",
                self.memory_per_worker,
                "--webui-port",
                str(self.webui_port + i),
                self.url,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            registered = sum(
                "Successfully registered with master" in p.read_text(errors="replace")
                for p in self._logs(WORKER_CLASS)
            )
            if registered >= self.workers:
                log.info("standalone cluster %s up with %d workers", self.url, registered)
                return
            time.sleep(1)
        raise ClusterError(
            f"workers did not register within {timeout:.0f}s; see {self.run_dir}/logs"
        )

    def stop(self) -> None:
        """Stops workers then master; safe to call when nothing runs."""
        for i in range(1, self.workers + 1):
            self._daemon("stop", WORKER_CLASS, i)
        self._daemon("stop", MASTER_CLASS, 1)

    def pids(self) -> list[int]:
        found = []
        for pid_file in (self.run_dir / "pids").glob("*.pid"):
            pid = int(pid_file.read_text().strip() or 0)
            if pid and Path(f"/proc/{pid}").exists():
                found.append(pid)
        return found


def _wait_port(host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            sock.settimeout(1)
            if sock.connect_ex((host, port)) == 0:
                return
        time.sleep(0.5)
    raise ClusterError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def package_zip(out: Path) -> Path:
    """Zips the ``aml`` package (code and its data files) for ``--py-files``."""
    src = PROJECT_ROOT / "lib"
    out.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted((src / "aml").rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts:
                zf.write(path, path.relative_to(src))
    return out


def submit_command(config: Config, job: Path, job_args: list[str], master: str) -> list[str]:
    """The ``spark-submit`` command line for a job file, as a cluster deployment runs it."""
    py_files = package_zip(config.run_dir / "dist" / "aml.zip")
    spark_jars = ",".join(str(j) for j in jars.spark_jars(jars.jar_dir(config)))
    cmd = [
        str(spark_home() / "bin" / "spark-submit"),
        "--master",
        master,
        "--properties-file",
        str(PROJECT_ROOT / "spark-conf" / "spark-defaults.conf"),
        "--driver-java-options",
        "-Duser.timezone=UTC -Dlog4j2.configurationFile=file:"
        f"{PROJECT_ROOT}/spark-conf/log4j2.properties",
        "--jars",
        spark_jars,
        "--py-files",
        str(py_files),
        "--conf",
        f"spark.pyspark.python={sys.executable}",
    ]
    for key, value in config.section("spark").get("conf", {}).items():
        cmd += ["--conf", f"{key}={value}"]
    return [*cmd, str(job), *job_args]


def submit_env(config: Config) -> dict[str, str]:
    """Environment for the ``spark-submit`` process (client mode: the driver runs here)."""
    host = config.section("spark").get("conf", {}).get("spark.driver.host", "127.0.0.1")
    return {
        **os.environ,
        "AML_HOME": str(config.root),
        "SPARK_LOCAL_IP": host,
        "PYSPARK_PYTHON": sys.executable,
        "PYTHONPATH": "",
    }


def _cmd_cluster(args: argparse.Namespace) -> int:
    config = load_config(args.env)
    cluster = StandaloneCluster(run_dir=config.run_dir / "spark-cluster", workers=args.workers)
    if args.cluster_command == "up":
        cluster.start()
        print(cluster.url)
    elif args.cluster_command == "down":
        cluster.stop()
    else:
        pids = cluster.pids()
        print(f"spark-standalone {'running' if pids else 'stopped'} pids={pids} {cluster.url}")
        return 0 if pids else 1
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cluster", help="local Spark standalone cluster (loopback)")
    parser.add_argument("cluster_command", choices=("up", "down", "status"))
    parser.add_argument("--workers", type=int, default=2)
    parser.set_defaults(func=_cmd_cluster)
