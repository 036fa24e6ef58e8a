"""What each pytest-xdist worker has of its own among the shared local services."""

from __future__ import annotations

import os

from aml.config import Config


def worker_config(config: Config) -> Config:
    """``config`` with this worker's own PostgreSQL source database (tests truncate and load
    the source tables); unchanged outside pytest-xdist."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return config
    postgres = {**config.section("sources")["postgres"], "database": f"aml_test_{worker}"}
    return config.with_settings("sources", postgres=postgres)
