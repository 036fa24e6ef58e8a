"""The Delta side of key rotation: re-encrypting a table, and checking what was written since.

Kept apart from :mod:`aml.crypto.rotate`, which owns the key file and the order of the steps:
nothing here writes keys.
"""

from __future__ import annotations

import logging
import operator
from functools import reduce
from typing import TYPE_CHECKING

import pyarrow as pa
from cryptography.fernet import Fernet, InvalidToken

from aml.crypto.keys import Keyring
from aml.crypto.pii import PiiTable

if TYPE_CHECKING:
    from collections.abc import Callable

    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)


def table_version(spark: SparkSession, table_path: str) -> int:
    from delta.tables import DeltaTable

    return int(DeltaTable.forPath(spark, table_path).history(1).first()["version"])


def enc_columns(spark: SparkSession, spec: PiiTable, table_path: str) -> list[str]:
    columns = spark.read.format("delta").load(table_path).columns
    missing = [c for c in spec.enc_columns if c not in columns]
    if missing:
        log.warning("%s lacks declared encrypted columns %s", spec.table, missing)
    return [c for c in columns if c.endswith("_enc")]


def _under_key(key: bytes) -> Callable[[pa.Array], pa.Array]:
    def check(values: pa.Array) -> pa.Array:
        fernet = Fernet(key)
        out = []
        for v in values.to_pylist():
            try:
                out.append(v is None or fernet.extract_timestamp(v) >= 0)  # verifies the HMAC
            except InvalidToken:
                out.append(False)
        return pa.array(out, type=pa.bool_())

    return check


def changes_under_primary(
    spark: SparkSession,
    table_path: str,
    after: int,
    upto: int,
    columns: list[str],
    keyring: Keyring,
) -> bool:
    """True when every value written in versions ``after+1..upto`` is under the primary key.

    Verifying a token's HMAC (``extract_timestamp``) costs less than decrypting it, and only the
    rows written since the rewrite are read, so a table a job keeps appending to does not need
    a full rewrite per pass.
    """
    if not columns:
        return True
    from pyspark.sql import functions as F
    from pyspark.sql.types import BooleanType

    from aml import delta_io

    try:
        changes = delta_io.changes_between(spark, table_path, after, upto)
        under = F.arrow_udf(_under_key(keyring.fernet_key_bytes[0]), BooleanType())
        any_old = reduce(operator.or_, [~under(F.col(c)) for c in columns])
        return changes.where(any_old).limit(1).count() == 0
    except Exception as exc:  # noqa: BLE001 - no change feed for the range: rewrite instead
        log.info("change feed of %s unavailable (%s): rewriting", table_path, type(exc).__name__)
        return False


def reencrypt_table(
    spark: SparkSession, table_path: str, columns: list[str], keyring: Keyring
) -> tuple[int, int]:
    """Re-encrypts ``columns`` under the primary key in one Delta UPDATE commit.

    UPDATE rather than read-and-overwrite: it is one transaction that reads and rewrites the
    same snapshot, so a concurrent append makes it fail instead of being overwritten, and it keeps
    partitioning, properties and every other column as they are.

    Returns:
        The version of the commit and the number of rows it rewrote.
    """
    from delta.tables import DeltaTable

    from aml.crypto.columns import rotate_column

    if not columns:
        return table_version(spark, table_path), 0
    assert keyring.rotation is not None
    marker = f"aml keys rotate {keyring.rotation.new_key_id}"
    conf_key = "spark.databricks.delta.commitInfo.userMetadata"
    spark.conf.set(conf_key, marker)  # labels the commit in DESCRIBE HISTORY, and finds it below
    try:
        table = DeltaTable.forPath(spark, table_path)
        table.update(set={c: rotate_column(c, keyring) for c in columns})
    finally:
        spark.conf.unset(conf_key)
    ours = (
        table.history(20)
        .where(f"operation = 'UPDATE' AND userMetadata = '{marker}'")
        .orderBy("version", ascending=False)
        .first()
    )
    if ours is None:  # an empty table: Delta commits nothing
        return table_version(spark, table_path), 0
    return int(ours["version"]), int((ours["operationMetrics"] or {}).get("numUpdatedRows", 0))
