"""A job run as a subprocess must see the same lake as the test: both read one overrides file."""

from __future__ import annotations

from pathlib import Path

from aml.config import Config


def relocated_lake(base: Config, root: Path, **ingest: object) -> tuple[Config, Path]:
    """(config, overrides file): ``base`` (the services' environment) with the lake and
    checkpoints under ``root`` and ``[ingest]`` settings (e.g. ``source="postgres"``)
    overridden; pass the file to a subprocess as ``AML_OVERRIDES``."""
    config = base.with_lake(root / "lake", root / "checkpoints").with_settings(
        "ingest", **{"source": "postgres", **ingest}
    )
    return config, config.write_overrides(root / "overrides.toml")
