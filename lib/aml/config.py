"""Named environments from ``conf/environments/<name>.toml``.

Environments are plain TOML so that jobs, tests and notebooks read the same file without an extra
dependency (``tomllib`` is in the standard library). A git-ignored ``conf/local-overrides.toml``
(or the file named by ``$AML_OVERRIDES``), if present, is merged on top: a developer's own tweaks,
or a test moving the lake into a temporary folder for a job it runs as a subprocess. Secrets are
never read from these files: :meth:`Config.source_password` takes them from the environment or a
git-ignored file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import tomli_w


def _project_root() -> Path:
    """``$AML_HOME``, else the checkout this file lives in, else the working directory.

    The last case covers the package shipped as a zip to a cluster (``--py-files``): the driver
    then runs from the project folder, or ``spark-submit`` is given ``AML_HOME``.
    """
    if os.environ.get("AML_HOME"):
        return Path(os.environ["AML_HOME"])
    checkout = Path(__file__).resolve().parents[2]
    if (checkout / "conf" / "environments").is_dir():
        return checkout
    return Path.cwd()


PROJECT_ROOT = _project_root()
DEFAULT_ENV = "local"


class ConfigError(RuntimeError):
    """A configuration file is missing or a required setting is absent."""


def _merge(base: dict[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _merge(merged[key], value)
        else:
            merged[key] = value
    return merged


@dataclass(frozen=True)
class Config:
    """One resolved environment.

    Attributes:
        name: environment name (``local``, ``cluster``, ``docker``...).
        data: the raw settings tree.
        root: project root that relative paths are resolved against.
    """

    name: str
    data: dict[str, Any]
    root: Path = field(default=PROJECT_ROOT)

    def section(self, name: str) -> dict[str, Any]:
        """Returns a settings section, or raises a clear error naming the file."""
        try:
            return dict(self.data[name])
        except KeyError as exc:
            raise ConfigError(f"environment '{self.name}' has no [{name}] section") from exc

    def path(self, value: str) -> Path:
        """Resolves a path setting against the project root (absolute paths stay as they are)."""
        p = Path(value)
        return p if p.is_absolute() else self.root / p

    def uri(self, value: str) -> str:
        """Like :meth:`path` but keeps URIs (``s3a://``...) untouched."""
        return value if "://" in value else str(self.path(value))

    @property
    def run_dir(self) -> Path:
        return self.path(self.section("paths")["run"])

    @property
    def data_dir(self) -> Path:
        return self.path(self.section("paths")["data"])

    @property
    def secrets_dir(self) -> Path:
        return self.path(self.section("paths")["secrets"])

    @property
    def lake_root(self) -> str:
        return self.uri(self.section("lake")["root"])

    @property
    def checkpoint_root(self) -> str:
        return self.uri(self.section("lake")["checkpoints"])

    def with_lake(self, lake_root: Path | str, checkpoints: Path | str | None = None) -> Config:
        """This environment with its Delta tables under ``lake_root`` (and its streaming
        checkpoints under ``checkpoints``, default ``<lake_root>/_checkpoints``): the one way
        tests, benchmarks and scratch runs point jobs at a lake of their own."""
        lake = {
            "root": str(lake_root),
            "checkpoints": str(checkpoints or f"{lake_root}/_checkpoints"),
        }
        return replace(self, data={**self.data, "lake": lake})

    def with_settings(self, section: str, **values: Any) -> Config:
        """This environment with some settings of one section replaced (e.g. the rule pack:
        ``config.with_settings("gold", rule_pack="v1")``)."""
        return replace(self, data={**self.data, section: {**self.data.get(section, {}), **values}})

    def write_overrides(self, path: Path) -> Path:
        """Writes this whole environment as an overrides file and returns ``path``.

        A process started with ``AML_OVERRIDES=<path>`` (a job run as a subprocess, a streaming
        run of a test or benchmark) then loads exactly this configuration, whatever it was
        derived from: a relocated lake, private topics, or the ports of an isolated set of
        services (:mod:`aml.services.isolated`).
        """
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(tomli_w.dumps(self.data).encode("utf-8"))
        return path

    def table_path(self, layer: str, table: str) -> str:
        """Location of a Delta table, e.g. ``table_path("bronze", "transactions")``."""
        return f"{self.lake_root.rstrip('/')}/{layer}/{table}"

    def source(self, name: str | None = None) -> dict[str, Any]:
        """Settings of a source database (default: ``[ingest].source``)."""
        sources = self.section("sources")
        key = name or self.section("ingest")["source"]
        if key not in sources:
            raise ConfigError(
                f"unknown source '{key}' in environment '{self.name}'; known: {sorted(sources)}"
            )
        return {"name": key, **sources[key]}

    def source_password(self, name: str) -> str:
        """Password of a source: ``$<password_env>``, else ``<secrets>/<name>.password``.

        Raises:
            ConfigError: neither is set; the message says where to put it, never a value.
        """
        src = self.source(name)
        env_var = src.get("password_env", f"AML_{name.upper()}_PASSWORD")
        if os.environ.get(env_var):
            return os.environ[env_var]
        secret_file = self.secrets_dir / f"{name}.password"
        if secret_file.is_file():
            return secret_file.read_text(encoding="utf-8").strip()
        raise ConfigError(
            f"no password for source '{name}': set ${env_var} or create {secret_file} "
            "(`aml services up` writes it for the local services)"
        )


def load_config(
    env: str | None = None, root: Path | None = None, overrides: Path | None = None
) -> Config:
    """Loads ``conf/environments/<env>.toml`` (env defaults to ``$AML_ENV`` or ``local``), with
    ``overrides`` (default ``$AML_OVERRIDES``, else ``conf/local-overrides.toml``) merged on top."""
    root = root or PROJECT_ROOT
    name = env or os.environ.get("AML_ENV", DEFAULT_ENV)
    env_file = root / "conf" / "environments" / f"{name}.toml"
    if not env_file.is_file():
        known = sorted(p.stem for p in (root / "conf" / "environments").glob("*.toml"))
        raise ConfigError(f"no environment '{name}' ({env_file} missing); known: {known}")
    with env_file.open("rb") as fh:
        data = tomllib.load(fh)
    overrides = overrides or Path(
        os.environ.get("AML_OVERRIDES", root / "conf" / "local-overrides.toml")
    )
    if overrides.is_file():
        with overrides.open("rb") as fh:
            data = _merge(data, tomllib.load(fh))
    return Config(name=name, data=data, root=root)
