"""Fernet key rotation that survives a crash at any point (``aml keys rotate``).

Three steps, each safe to repeat, with the progress kept in the key file itself (written
atomically), so a rerun continues where a crash stopped:

1. **begin**: add a new key as the keyring's first (it encrypts from now on; the old keys still
   decrypt) and mark a rotation in progress. A rerun that finds the mark reuses that key.
2. **rewrite**: re-encrypt every ``_enc`` column of every table of ``conf/pii.toml`` under the
   new key, with one Delta UPDATE per table (one commit; counts, other columns, partitioning and
   table properties unchanged; a concurrent writer makes the UPDATE fail rather than lose rows).
   The mark records the Delta version each rewrite produced; a rerun skips tables still at that
   version. Re-encrypting a value that is already under the new key is harmless.
3. **retire**: drop the old keys, only once every existing table is at its recorded version, so
   no value under an old key can remain. A table written after its rewrite (a job that kept
   running) is checked through its change feed: if every value added since is under the new key
   the version is accepted, otherwise the table is rewritten again.

Old data files of a table keep the old ciphertext until ``VACUUM`` removes them; after step 3,
time travel to a version before the rotation can no longer be decrypted. Tokens are untouched:
the token key is never rotated here (see :mod:`aml.crypto.keys`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from aml.config import Config
from aml.crypto.keys import (
    Keyring,
    KeyringError,
    Rotation,
    key_file_path,
    keyring_from_environment,
    keys_in_environment,
    new_fernet_entry,
    read_key_file,
    utc_stamp,
    write_key_file,
)
from aml.crypto.pii import PiiTable, load_pii
from aml.crypto.rewrite import changes_under_primary, enc_columns, reencrypt_table, table_version

if TYPE_CHECKING:
    from collections.abc import Mapping

    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

MAX_PASSES = 3


class RotationIncomplete(KeyringError):
    """A table is not (or no longer) entirely under the new key: old keys must stay."""


@dataclass
class RotationReport:
    key_file: str
    new_key_id: str
    retired_key_ids: list[str] = field(default_factory=list)
    rows_rewritten: dict[str, int] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)


def begin_rotation(path: Path, base: Keyring | None = None) -> Keyring:
    """Step 1: the keyring with a new primary key and the rotation mark, saved at ``path``.

    Args:
        path: the key file to rotate (or ``--keys-out`` when the keys come from the environment).
        base: the current keyring when it is not stored at ``path`` (environment keys).
    """
    if path.exists():
        current = read_key_file(path)
        if current.rotation:
            if current.rotation.new_key_id != current.fernet_keys[0].id:
                raise KeyringError(f"{path}: rotation mark does not name the primary key")
            ids = {e.id for e in current.fernet_keys}
            missing = sorted({e.id for e in base.fernet_keys} - ids) if base else []
            if missing:
                raise KeyringError(f"{path} is another keyring's (lacks keys {missing})")
            log.info(
                "resuming the rotation to key %s begun %s",
                current.rotation.new_key_id,
                current.rotation.started_at,
            )
            return current
        if base is not None:
            raise KeyringError(f"{path} exists and has no rotation in progress: move it away first")
        base = current
    if base is None:
        raise KeyringError(f"no keyring at {path}")
    new = new_fernet_entry()
    keyring = Keyring(
        (new, *base.fernet_keys), base.token_entry, str(path), Rotation(new.id, utc_stamp(), {})
    )
    log.info(
        "rotation begun: new primary key %s, %d old key(s) kept until the end",
        new.id,
        len(base.fernet_keys),
    )
    return write_key_file(path, keyring)


def _mark(path: Path, keyring: Keyring, table: str, version: int) -> Keyring:
    """Records in the key file that ``table`` is entirely under the new key at ``version``."""
    assert keyring.rotation is not None
    done = {**keyring.rotation.done, table: version}
    return write_key_file(path, replace(keyring, rotation=replace(keyring.rotation, done=done)))


def rewrite_tables(
    spark: SparkSession,
    config: Config,
    path: Path,
    keyring: Keyring,
    tables: Mapping[str, PiiTable],
    report: RotationReport | None = None,
) -> Keyring:
    """Step 2: brings every existing table under the primary key; missing tables are skipped."""
    from delta.tables import DeltaTable

    assert keyring.rotation is not None
    report = report or RotationReport(str(path), keyring.rotation.new_key_id)
    for spec in tables.values():
        table_path = spec.path(config)
        if not DeltaTable.isDeltaTable(spark, table_path):
            log.info("%s: no table at %s yet, skipped", spec.table, table_path)
            if spec.table not in report.skipped:
                report.skipped.append(spec.table)
            continue
        now = table_version(spark, table_path)
        done = keyring.rotation.done.get(spec.table)
        if done == now:
            log.info("%s: already re-encrypted (version %d)", spec.table, now)
            continue
        columns = enc_columns(spark, spec, table_path)
        if done is not None and changes_under_primary(
            spark, table_path, done, now, columns, keyring
        ):
            log.info("%s: versions %d..%d written under the new key", spec.table, done + 1, now)
            keyring = _mark(path, keyring, spec.table, now)
            continue
        version, rows = reencrypt_table(spark, table_path, columns, keyring)
        log.info("%s: re-encrypted %s (%d rows) in version %d", spec.table, columns, rows, version)
        keyring = _mark(path, keyring, spec.table, version)
        report.rows_rewritten[spec.table] = report.rows_rewritten.get(spec.table, 0) + rows
    return keyring


def retire_old_keys(
    spark: SparkSession, config: Config, path: Path, tables: Mapping[str, PiiTable]
) -> list[str]:
    """Step 3: drops every key but the primary, once each existing table is at its mark.

    Raises:
        RotationIncomplete: a table was never rewritten or was written since; nothing changes.
    """
    from delta.tables import DeltaTable

    keyring = read_key_file(path)
    if keyring.rotation is None:
        log.info("no rotation in progress in %s", path)
        return []
    for spec in tables.values():
        table_path = spec.path(config)
        if not DeltaTable.isDeltaTable(spark, table_path):
            continue
        done, now = keyring.rotation.done.get(spec.table), table_version(spark, table_path)
        if done != now:
            raise RotationIncomplete(
                f"{spec.table} is at version {now}, re-encrypted at {done}: old keys kept; "
                "rerun `aml keys rotate` to finish"
            )
    retired = [e.id for e in keyring.fernet_keys[1:]]
    write_key_file(path, replace(keyring, fernet_keys=keyring.fernet_keys[:1], rotation=None))
    log.info("rotation finished: primary %s, retired %s", keyring.fernet_keys[0].id, retired)
    return retired


def rotation_target(
    config: Config, keys_out: Path | None, environ: Mapping[str, str] | None = None
) -> tuple[Path, Keyring | None]:
    """Where the rotated keyring goes, and the current keyring when it is not stored there."""
    if keys_in_environment(environ):
        if keys_out is None:
            raise KeyringError(
                "the keys come from the environment (AML_FERNET_KEYS), which rotate cannot "
                "change: rerun with --keys-out FILE; the rotated keyring is written there "
                "(mode 0600) for you to put into the environment"
            )
        return keys_out, keyring_from_environment(environ)
    if keys_out is not None:
        raise KeyringError("--keys-out is for keys from the environment; key files rotate in place")
    return key_file_path(config), None


def rotate(
    spark: SparkSession,
    config: Config,
    *,
    keys_out: Path | None = None,
    tables: Mapping[str, PiiTable] | None = None,
    environ: Mapping[str, str] | None = None,
) -> RotationReport:
    """Rotates the Fernet keys: begin (or resume), rewrite every table, retire the old keys."""
    path, base = rotation_target(config, keys_out, environ)
    tables = tables if tables is not None else load_pii(config)
    keyring = begin_rotation(path, base)
    assert keyring.rotation is not None
    report = RotationReport(str(path), keyring.rotation.new_key_id)
    for attempt in range(1, MAX_PASSES + 1):
        keyring = rewrite_tables(spark, config, path, keyring, tables, report)
        try:
            report.retired_key_ids = retire_old_keys(spark, config, path, tables)
            return report
        except RotationIncomplete as exc:
            if attempt == MAX_PASSES:
                raise RotationIncomplete(f"{exc} (tables keep changing: pause writers)") from exc
            log.info("pass %d: %s", attempt, exc)
            keyring = read_key_file(path)
    raise AssertionError("unreachable")
