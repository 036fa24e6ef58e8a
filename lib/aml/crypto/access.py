"""Role-checked, audited decryption of PII (``conf/access.toml``, ``ops.decrypt_audit``).

Every attempt leaves one row in ``ops.decrypt_audit``, an append-only Delta log like the other
``ops`` tables: who (the claimed user and the OS login), their role, which table and columns,
the request, the reason, the outcome, and for a granted call the primary keys of the rows
decrypted (ids, never values). A granted call writes its row *before* any value is decrypted,
so there is no path to plaintext that skips the audit; if the audit write fails, nothing is
decrypted.

Rows are collected to the driver and decrypted there: this path serves an investigator's case
(tens of rows), and ``max_rows`` stops it turning into a bulk export.
"""

from __future__ import annotations

import getpass
import json
import logging
import os
import tomllib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aml.config import Config, ConfigError
from aml.crypto.keys import Keyring, load_keyring
from aml.crypto.pii import PiiTable, load_pii, pii_table
from aml.ops import append_rows, utcnow

if TYPE_CHECKING:
    from pyspark.sql import Column, DataFrame, SparkSession

log = logging.getLogger(__name__)

ACCESS_FILE = Path("conf") / "access.toml"
USER_ENV = "AML_USER"
GRANTED, DENIED = "GRANTED", "DENIED"
DEFAULT_MAX_ROWS = 1000
DECRYPT_AUDIT_SCHEMA = (
    "audit_id STRING NOT NULL, user_name STRING NOT NULL, os_user STRING, role STRING, "
    "table_name STRING NOT NULL, columns ARRAY<STRING>, row_count BIGINT NOT NULL, "
    "row_keys ARRAY<STRING>, request STRING, reason STRING, outcome STRING NOT NULL, "
    "detail STRING, at TIMESTAMP NOT NULL"
)


class AccessDenied(PermissionError):
    """A decrypt request was refused (and audited); no value was decrypted."""


@dataclass(frozen=True)
class AccessPolicy:
    """Roles (name -> may it decrypt) and users (name -> role), from ``conf/access.toml``."""

    roles: Mapping[str, bool]
    users: Mapping[str, str]

    def role_of(self, user: str) -> str | None:
        return self.users.get(user)

    def may_decrypt(self, user: str) -> bool:
        role = self.role_of(user)
        return bool(role and self.roles.get(role, False))


def load_policy(config: Config, path: Path | None = None) -> AccessPolicy:
    path = path or config.root / ACCESS_FILE
    try:
        with path.open("rb") as fh:
            data = tomllib.load(fh)
    except FileNotFoundError as exc:
        raise ConfigError(f"no access policy at {path}") from exc
    roles = {
        name: bool(spec.get("may_decrypt", False)) for name, spec in data.get("roles", {}).items()
    }
    users = dict(data.get("users", {}))
    unknown = sorted({r for r in users.values() if r not in roles})
    if unknown:
        raise ConfigError(f"{path}: users have undeclared roles {unknown}")
    return AccessPolicy(roles, users)


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        return str(os.getuid())


def current_user(environ: Mapping[str, str] | None = None) -> str:
    """``$AML_USER``, else the OS login name."""
    env = os.environ if environ is None else environ
    return env.get(USER_ENV) or os_user()


def _request_text(where: str | Sequence[int | str]) -> str:
    if isinstance(where, str):
        return f"where: {where}"
    return "ids: " + json.dumps([str(i) for i in where])


def _row_filter(df: DataFrame, key: str, where: str | Sequence[int | str]) -> Column:
    """A SQL predicate, or ``key IN (ids)`` with the ids converted to the key's type (so Delta
    can skip files on the key's statistics; a string compare would scan everything)."""
    from pyspark.sql import functions as F
    from pyspark.sql.types import IntegralType

    if isinstance(where, str):
        if not where.strip():
            raise ValueError("an empty filter would decrypt the whole table")
        return F.expr(where)
    ids = list(where)
    if not ids:
        raise ValueError("no ids given")
    if isinstance(df.schema[key].dataType, IntegralType):
        try:
            ids = [int(i) for i in ids]
        except ValueError as exc:
            raise ValueError(f"{key} is an integer; got ids {ids}") from exc
    else:
        ids = [str(i) for i in ids]
    return df[key].isin(ids)


@dataclass
class _Attempt:
    """One decrypt call's audit context; :meth:`record` appends its row."""

    spark: SparkSession
    config: Config
    user: str
    role: str | None
    table: str
    columns: list[str]
    request: str
    reason: str

    def record(self, outcome: str, detail: str | None = None, row_keys: list | None = None) -> str:
        audit_id = uuid.uuid4().hex
        row: dict[str, Any] = {
            "audit_id": audit_id,
            "user_name": self.user,
            "os_user": os_user(),
            "role": self.role,
            "table_name": self.table,
            "columns": self.columns,
            "row_count": len(row_keys or []),
            "row_keys": row_keys,
            "request": self.request,
            "reason": self.reason,
            "outcome": outcome,
            "detail": detail,
            "at": utcnow(),
        }
        append_rows(
            self.spark, self.config.table_path("ops", "decrypt_audit"), DECRYPT_AUDIT_SCHEMA, [row]
        )
        log.info(
            "decrypt %s: %s on %s (%d rows), audit %s",
            outcome,
            self.user,
            self.table,
            row["row_count"],
            audit_id,
        )
        return audit_id

    def deny(self, message: str) -> AccessDenied:
        self.record(DENIED, message)
        return AccessDenied(message)


def decrypt(
    spark: SparkSession,
    config: Config,
    table: str,
    where: str | Sequence[int | str],
    columns: Sequence[str] | None = None,
    reason: str = "",
    user: str | None = None,
    *,
    keyring: Keyring | None = None,
    policy: AccessPolicy | None = None,
    pii: dict[str, PiiTable] | None = None,
    max_rows: int = DEFAULT_MAX_ROWS,
) -> list[dict[str, str | None]]:
    """Decrypts ``columns`` (plaintext names; default: all encrypted ones) of the matching rows.

    Args:
        table: a table of ``conf/pii.toml`` (``silver.transactions``).
        where: ids of the table's primary key, or a SQL predicate over its stored columns.
        reason: why (a case number): required, and kept in the audit.
        user: who asks; default ``$AML_USER`` or the OS login. The audit also records the OS
            login, so a claimed name is always next to the account that made the call.

    Returns:
        One dict per row: the primary key (as text) and each decrypted column (as text).

    Raises:
        AccessDenied: the user's role may not decrypt, the reason is empty, or more than
            ``max_rows`` rows match. The refusal is audited; nothing is decrypted.
    """
    who = user or current_user()
    policy = policy or load_policy(config)
    role = policy.role_of(who)
    attempt = _Attempt(
        spark, config, who, role, table, list(columns or []), _request_text(where), reason
    )
    if not policy.may_decrypt(who):
        why = f"role '{role}'" if role else "no role in conf/access.toml"
        raise attempt.deny(f"user '{who}' may not decrypt ({why}; only investigators may)")
    if not reason or not reason.strip():
        raise attempt.deny("a reason (case reference) is required to decrypt")
    spec = pii_table(pii if pii is not None else load_pii(config), table)
    wanted = list(columns) if columns else list(spec.encrypt)
    unknown = [c for c in wanted if c not in spec.encrypt]
    if unknown:
        raise ValueError(f"{table} has no encrypted columns {unknown}; it has {list(spec.encrypt)}")
    attempt.columns = wanted
    keyring = keyring or load_keyring(config)  # fail on missing keys before anything is read
    df = spark.read.format("delta").load(spec.path(config))
    key = spec.primary_key
    rows = (
        df.where(_row_filter(df, key, where))
        .select(df[key].cast("string").alias(key), *[df[f"{c}_enc"] for c in wanted])
        .limit(max_rows + 1)
        .collect()
    )
    if len(rows) > max_rows:
        raise attempt.deny(f"more than {max_rows} rows match: narrow the request")
    row_keys = [r[key] for r in rows]
    attempt.record(GRANTED, row_keys=row_keys)
    from aml.crypto.columns import decrypt_values

    clear = {c: decrypt_values([r[f"{c}_enc"] for r in rows], keyring) for c in wanted}
    return [{key: k, **{c: clear[c][i] for c in wanted}} for i, k in enumerate(row_keys)]
