"""Real local services for the integration tests: PostgreSQL, MariaDB and a Kafka broker.

``services`` brings them up through the library (idempotent: already running services are only
checked and provisioned) and fails, never skips, when one cannot start: a test that silently did
not run would hide a broken environment. The services stay up after the session so the next run
(and other test modules) start instantly; ``aml services down`` stops them.

Run by several pytest-xdist workers, each worker gets a PostgreSQL database of its own (tests
truncate and load the source tables); the MariaDB source stays one database, and the tests that
use it are grouped onto one worker (``tests/conftest.py``).

``shared_lake`` is the generated lake that several modules need with gold built: built once per
test session (per worker), kept unchanged, and copied by each module that changes it
(:meth:`tests.integration.gold_data.GoldLake.copy`).
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from tests.integration.capture import captured_output
from tests.integration.gold_data import GoldLake, SharedLake
from tests.integration.keys import ephemeral_keys
from tests.integration.workers import worker_config

from aml.config import Config, load_config
from aml.gold import job as gold_job
from aml.services import isolated, manager
from aml.silver import job as silver_job
from aml.sources import db

SHARED_ROWS = 20_000
SHARED_SEED = 11


@pytest.fixture(scope="session")
def services() -> Iterator[Config]:
    """The environment's Config, with every local service running and provisioned."""
    config = worker_config(load_config())
    try:
        with _services_lock(config):
            manager.up(config)
    except Exception as exc:  # noqa: BLE001 - fail with the reason, do not skip
        pytest.fail(f"local services could not be brought up:\n{exc}", pytrace=False)
    yield config


@pytest.fixture(scope="session")
def shared_lake(spark, services: Config, tmp_path_factory) -> Iterator[SharedLake]:
    """A generated dataset taken the whole way once per session: generate, PostgreSQL, ingest,
    silver, gold on the default rule pack (with its behavioural profiles)."""
    root = tmp_path_factory.mktemp("shared-lake")
    with ephemeral_keys() as keys:
        lake = GoldLake.in_bronze(
            spark, services.with_lake(root / "lake"), root / "dataset", SHARED_ROWS, SHARED_SEED
        )
        # bronze is raw by design: from silver on nothing built may show personal data, in the
        # tables or in what the jobs log and print (tests/integration/test_pii_scan.py)
        with captured_output() as output:
            silver_job.run(spark, lake.config)
            gold_job.run(spark, lake.config)
    lake.snapshot()
    yield SharedLake(lake, keys, output.text)
    lake.drop_snapshot()


@contextmanager
def _services_lock(config: Config) -> Iterator[None]:
    """One worker at a time starts or provisions the shared services."""
    path = config.run_dir / "services-up.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        yield


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


@pytest.fixture()
def isolated_config(services: Config) -> Iterator[Config]:
    """A second environment with its own root, run dir, secrets and free ports.

    Used to stop and restart services without touching the shared ones. The root is a world-
    traversable directory under /tmp, not pytest's tmp_path: pytest's base temp dir is 0700,
    which the postgres and mysql system users (used when running as root) cannot enter.
    """
    config = isolated.isolated_config(services, prefix="aml-services-test-")
    try:
        yield config
    finally:
        try:
            manager.down(config)
        finally:
            shutil.rmtree(isolated.scratch(config), ignore_errors=True)


def pytest_configure(config: pytest.Config) -> None:
    # kafka-python 3.0 loads its protocol schemas through a deprecated importlib API
    for message in ("read_text is deprecated", "open_text is deprecated"):
        config.addinivalue_line("filterwarnings", f"ignore:{message}:DeprecationWarning")
