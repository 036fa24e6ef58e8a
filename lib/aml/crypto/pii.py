"""Which tables hold PII and how each column is protected (``conf/pii.toml``).

One declaration serves three readers: the silver job (:func:`protect` turns plaintext columns
into ``_token`` / ``_enc`` columns), key rotation (which tables to re-encrypt, found by path),
and the decrypt path (which columns may be decrypted, and the primary key recorded in the audit).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from aml.config import Config, ConfigError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from aml.crypto.keys import Keyring

PII_FILE = Path("conf") / "pii.toml"


@dataclass(frozen=True)
class PiiTable:
    """One table's PII declaration.

    Attributes:
        table: the name users type (``silver.transactions``).
        path_layer: lake layer folder, with ``name`` giving ``config.table_path(layer, name)``.
        primary_key: the column that identifies a row in the audit (an id, never a PII value:
            for ``silver.accounts`` it is the account number's token).
        token: plaintext columns that get a deterministic ``_token`` (join and group keys).
        encrypt: plaintext columns replaced by a Fernet ``_enc`` column.
    """

    table: str
    path_layer: str
    name: str
    primary_key: str
    token: tuple[str, ...]
    encrypt: tuple[str, ...]

    @property
    def enc_columns(self) -> tuple[str, ...]:
        return tuple(f"{c}_enc" for c in self.encrypt)

    def path(self, config: Config) -> str:
        return config.table_path(self.path_layer, self.name)


def load_pii(config: Config | None = None, path: Path | None = None) -> dict[str, PiiTable]:
    """Reads ``conf/pii.toml`` (or ``path``): table name -> declaration, in file order."""
    if path is None:
        if config is None:
            raise ValueError("load_pii needs a config or a path")
        path = config.root / PII_FILE
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"no PII declaration at {path}") from exc
    tables: dict[str, PiiTable] = {}
    for table, spec in data.get("tables", {}).items():
        try:
            tables[table] = PiiTable(
                table=table,
                path_layer=spec["path_layer"],
                name=spec["name"],
                primary_key=spec["primary_key"],
                token=tuple(spec.get("token", ())),
                encrypt=tuple(spec.get("encrypt", ())),
            )
        except KeyError as exc:
            raise ConfigError(f"{path}: table '{table}' lacks {exc}") from exc
        if not tables[table].encrypt and not tables[table].token:
            raise ConfigError(f"{path}: table '{table}' declares no token or encrypt column")
    return tables


def pii_table(tables: dict[str, PiiTable], table: str) -> PiiTable:
    try:
        return tables[table]
    except KeyError:
        raise ConfigError(
            f"'{table}' is not declared in conf/pii.toml; known: {sorted(tables)}"
        ) from None


def protect(df: DataFrame, spec: PiiTable, keyring: Keyring) -> DataFrame:
    """Tokens then encryption, as declared: the tokens need the plaintext, which encryption
    removes. Usage: ``bronze_df.transform(protect, pii["silver.transactions"], keyring)``."""
    from aml.crypto.columns import with_encrypted, with_tokenized

    tokenized_df = with_tokenized(df, list(spec.token), keyring.token_key) if spec.token else df
    if not spec.encrypt:
        return tokenized_df
    return with_encrypted(tokenized_df, list(spec.encrypt), keyring)
