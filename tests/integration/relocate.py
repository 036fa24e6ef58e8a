"""A job run as a subprocess must see the same lake as the test: both read one overrides file."""

from __future__ import annotations

from pathlib import Path

from aml.config import Config, load_config


def relocated_lake(root: Path, **ingest: object) -> tuple[Config, Path]:
    """(config, overrides file) with the lake and checkpoints under ``root`` and ``[ingest]``
    settings (e.g. ``source="postgres"``) overridden; pass the file to a subprocess as
    ``AML_OVERRIDES``."""
    settings = "".join(
        f"{k} = {v!r}\n".replace("'", '"') for k, v in {"source": "postgres", **ingest}.items()
    )
    overrides = root / "overrides.toml"
    overrides.write_text(
        f'[lake]\nroot = "{root / "lake"}"\ncheckpoints = "{root / "checkpoints"}"\n'
        f"[ingest]\n{settings}"
    )
    return load_config("local", overrides=overrides), overrides
