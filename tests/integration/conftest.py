"""Real local services for the integration tests: PostgreSQL, MariaDB and a Kafka broker.

``services`` brings them up through the library (idempotent: already running services are only
checked and provisioned) and fails, never skips, when one cannot start: a test that silently did
not run would hide a broken environment. The services stay up after the session so the next run
(and other test modules) start instantly; ``aml services down`` stops them.
"""

from __future__ import annotations

import copy
import shutil
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aml.config import Config, load_config
from aml.services import manager
from aml.sources import db


@pytest.fixture(scope="session")
def services() -> Iterator[Config]:
    """The environment's Config, with every local service running and provisioned."""
    config = load_config()
    try:
        manager.up(config)
    except Exception as exc:  # noqa: BLE001 - fail with the reason, do not skip
        pytest.fail(f"local services could not be brought up:\n{exc}", pytrace=False)
    yield config


@pytest.fixture()
def pg_conn(services: Config) -> Iterator[Any]:
    """A psycopg connection to the PostgreSQL source as the ``aml`` user."""
    conn = db.connect(services, "postgres")
    yield conn
    conn.close()


@pytest.fixture()
def maria_conn(services: Config) -> Iterator[Any]:
    """A PyMySQL connection to the MariaDB source as the ``aml`` user."""
    conn = db.connect(services, "mariadb")
    yield conn
    conn.close()


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


@pytest.fixture()
def isolated_config(services: Config) -> Iterator[Config]:
    """A second environment with its own root, run dir, secrets and free ports.

    Used to stop and restart services without touching the shared ones. The root is a world-
    traversable directory under /tmp, not pytest's tmp_path: pytest's base temp dir is 0700,
    which the postgres and mysql system users (used when running as root) cannot enter.
    """
    root = Path(tempfile.mkdtemp(prefix="aml-services-test-"))
    root.chmod(0o755)
    data = copy.deepcopy(services.data)
    pg, maria, broker, controller = free_ports(4)
    data["sources"]["postgres"]["port"] = pg
    data["sources"]["mariadb"]["port"] = maria
    data["kafka"]["bootstrap_servers"] = f"127.0.0.1:{broker}"
    data["kafka"]["controller_port"] = controller
    # reuse the resolved broker jars instead of running Maven again
    data["kafka"]["jars_dir"] = str(services.path(data["kafka"].get("jars_dir", "var/jars/kafka")))
    config = Config(name=services.name, data=data, root=root)
    try:
        yield config
    finally:
        try:
            manager.down(config)
        finally:
            shutil.rmtree(root, ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas through a deprecated importlib API
    for message in ("read_text is deprecated", "open_text is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")
