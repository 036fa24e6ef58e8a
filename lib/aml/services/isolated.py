"""A second, private set of local services: own root folder, own free ports.

For tests that stop and restart services, and benchmarks that must not touch the user's data,
without disturbing the shared instances of ``aml services up``.
"""

from __future__ import annotations

import copy
import socket
import tempfile
from pathlib import Path

from aml.config import Config


def free_ports(count: int) -> list[int]:
    """Distinct loopback ports nobody listens on right now."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [s.getsockname()[1] for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def isolated_config(base: Config, prefix: str = "aml-isolated-") -> Config:
    """A copy of ``base`` whose run-time state lives in a new folder under /tmp, on free ports.

    Configuration files still come from ``base.root``; services' data and logs, secrets,
    generated data and the lake move to ``paths.scratch``, a new world-traversable (0755) folder,
    not a 0700 temporary one: the ``postgres`` and ``mysql`` system users the servers run as (when
    started as root) must be able to enter it. The resolved Kafka and Spark jars of ``base`` are
    reused instead of running Maven again. Stopping the services and removing the folder is the
    caller's job (``manager.down``, then ``shutil.rmtree(scratch(config))``).
    """
    root = Path(tempfile.mkdtemp(prefix=prefix))
    root.chmod(0o755)
    data = copy.deepcopy(base.data)
    pg, maria, broker, controller = free_ports(4)
    data["sources"]["postgres"]["port"] = pg
    data["sources"]["mariadb"]["port"] = maria
    data["kafka"]["bootstrap_servers"] = f"127.0.0.1:{broker}"
    data["kafka"]["controller_port"] = controller
    data["kafka"]["jars_dir"] = str(base.path(data["kafka"].get("jars_dir", "var/jars/kafka")))
    data["jars"]["dir"] = str(base.path(data["jars"]["dir"]))
    data["paths"] = {
        "scratch": str(root),
        "run": str(root / "run"),
        "data": str(root / "data"),
        "secrets": str(root / "secrets"),
    }
    data["lake"] = {"root": str(root / "lake"), "checkpoints": str(root / "checkpoints")}
    return Config(name=base.name, data=data, root=base.root)


def scratch(config: Config) -> Path:
    """The folder holding everything of an isolated environment."""
    return Path(config.section("paths")["scratch"])
