"""Shared fixtures: one Delta-enabled local Spark session for the whole test run.

Built through the project's own factory (so tests exercise ``spark-conf/`` and the resolved jars),
with the warehouse, lake and checkpoints under pytest's temporary folder, UI off and two shuffle
partitions to keep small tests fast.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aml.config import Config, load_config


@pytest.fixture(scope="session")
def base_config() -> Config:
    return load_config("local")


@pytest.fixture(scope="session")
def lake_config(base_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The local environment with its lake and checkpoints moved into a temporary folder."""
    root = tmp_path_factory.mktemp("lake")
    return base_config.with_lake(root / "lake", root / "checkpoints")


@pytest.fixture(scope="session")
def spark(lake_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Iterator:
    from aml.spark import build_session

    warehouse: Path = tmp_path_factory.mktemp("warehouse")
    session = build_session(
        lake_config,
        "aml-tests",
        {
            "spark.master": "local[2]",
            "spark.sql.shuffle.partitions": "2",
            "spark.default.parallelism": "2",
            "spark.ui.enabled": "false",
            # The session lives for the whole run (an hour) and its small tests broadcast
            # thousands of tiny tables: with Spark's own page size (64 MB at this heap size),
            # each broadcast hash table held its own 64 MB page until the cleaner freed it, and
            # the heap ran out. Pages of 2 MB (spark-conf's default for the jobs is 4 MB); and
            # the SQL status store keeps 100 executions, not 1,000 (each holds its plan's text,
            # up to half a megabyte for the rule packs).
            "spark.buffer.pageSize": "2m",
            "spark.sql.ui.retainedExecutions": "100",
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse} -Duser.timezone=UTC",
        },
    )
    yield session
    session.stop()


# The modules that take longest (each builds lakes or runs jobs as processes), started first when
# pytest-xdist spreads the groups over workers, so that none of them is left for the end.
LONG_FIRST = (
    "test_gold.py",
    "test_ingest_crash.py",
    "test_stream_parity.py",
    "test_notebooks.py",
    "test_pii_scan.py",
    "test_silver_restart.py",
    "test_stream.py",
    "test_run.py",
    "test_cluster.py",
    "test_gold_oracle.py",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks tests by folder, so `-m unit` / `-m integration` select without per-test noise,
    and groups them for pytest-xdist (``--dist loadgroup``, see :func:`xdist_group`)."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "unit" in parts:
            item.add_marker(pytest.mark.unit)
        elif "integration" in parts:
            item.add_marker(pytest.mark.integration)
    if not config.getoption("loadgroup", False):  # set on the workers of --dist loadgroup
        return
    for item in items:
        item.add_marker(pytest.mark.xdist_group(xdist_group(item)))
    rank = {name: i for i, name in enumerate(LONG_FIRST)}
    items.sort(key=lambda item: rank.get(Path(str(item.fspath)).name, len(rank)))


def xdist_group(item: pytest.Item) -> str:
    """The worker-sharing unit of a test: its module, so that a module's fixtures are built on
    one worker only, split further by the parameters of module-scoped fixtures (one rule pack's
    lake each); every test of the MariaDB source in one group, since the workers share that
    database (each has a PostgreSQL database of its own: ``tests/integration/conftest.py``)."""
    if "mariadb" in item.name or "maria_conn" in getattr(item, "fixturenames", ()):
        return "mariadb"
    group = item.nodeid.split("::", 1)[0]
    callspec = getattr(item, "callspec", None)
    if callspec is not None:
        defs = item._fixtureinfo.name2fixturedefs  # noqa: SLF001 - the fixtures' scopes
        params = sorted(
            f"{name}={callspec.params[name]}"
            for name in callspec.params
            if name in defs and defs[name][-1].scope == "module"
        )
        group += "".join(f"[{p}]" for p in params)
    return group
