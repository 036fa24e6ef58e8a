"""Which source tables are ingested, and how: ``conf/tables.toml``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from aml.config import Config, ConfigError


@dataclass(frozen=True)
class TableSpec:
    """One source table and its bronze twin.

    Attributes:
        name: logical name, also the bronze table name (``bronze.<name>``).
        source_table: table in the source schema.
        primary_key: BIGINT key: upsert key in bronze and the column parallel reads split on.
        watermark_column: timestamp the source sets on insert and on every update.
        custom_schema: Spark JDBC ``customSchema`` (``""`` for none).
        key_is_personal: the key is personal data (an account number): the watermark then
            records no key tie-breaker, so ``ops.watermarks`` holds nothing personal; the next
            increment reads the rows strictly after the watermark's time, and the look-back
            re-reads any committed late at that time (idempotent upserts, written only when
            changed).
    """

    name: str
    source_table: str
    primary_key: str
    watermark_column: str
    custom_schema: str = ""
    key_is_personal: bool = False


def load_table_specs(config: Config) -> dict[str, TableSpec]:
    path = config.root / "conf" / "tables.toml"
    with path.open("rb") as fh:
        tables = tomllib.load(fh).get("tables", {})
    if not tables:
        raise ConfigError(f"{path} declares no [tables.*]")
    return {
        name: TableSpec(
            name=name,
            source_table=t["source_table"],
            primary_key=t["primary_key"],
            watermark_column=t["watermark_column"],
            custom_schema=t.get("custom_schema", ""),
            key_is_personal=bool(t.get("key_is_personal", False)),
        )
        for name, t in tables.items()
    }


def select_tables(config: Config, names: list[str] | None) -> list[TableSpec]:
    """The specs for ``names`` (all when ``None`` or ``["all"]``), in the file's order."""
    specs = load_table_specs(config)
    if not names or names == ["all"]:
        return list(specs.values())
    unknown = sorted(set(names) - set(specs))
    if unknown:
        raise ConfigError(f"unknown table(s) {unknown}; known: {sorted(specs)}")
    return [specs[n] for n in names]
