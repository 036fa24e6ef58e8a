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
    """A copy of ``base`` rooted in a new folder under /tmp, with free ports for every service.

    The root is world-traversable (0755), not a 0700 temporary folder: the ``postgres`` and
    ``mysql`` system users the servers run as (when started as root) must be able to enter it.
    The resolved Kafka jars of ``base`` are reused instead of running Maven again. Stopping the
    services and removing the folder is the caller's job (``manager.down``, ``shutil.rmtree``).
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
    return Config(name=base.name, data=data, root=root)
