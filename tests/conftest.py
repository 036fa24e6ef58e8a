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
            "spark.sql.warehouse.dir": str(warehouse),
            "spark.driver.extraJavaOptions": f"-Dderby.system.home={warehouse} -Duser.timezone=UTC",
        },
    )
    yield session
    session.stop()


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Marks tests by folder, so `-m unit` / `-m integration` select without per-test noise."""
    for item in items:
        parts = Path(str(item.fspath)).parts
        if "unit" in parts:
            item.add_marker(pytest.mark.unit)
        elif "integration" in parts:
            item.add_marker(pytest.mark.integration)
