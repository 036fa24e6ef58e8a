"""The bronze side of ingestion: metadata columns, schema drift, and upsert by primary key.

Bronze keeps source rows as they came. Rows are compared by a hash of their source columns, so a
re-read of unchanged rows (the look-back overlap, or a rerun after a crash) writes nothing: a run
with no source change leaves bronze at the same Delta version.
"""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from aml import failpoints

if TYPE_CHECKING:
    from datetime import datetime

log = logging.getLogger(__name__)

META_COLUMNS = ("_row_hash", "_ingested_at", "_source", "_run_id")


class SchemaDriftError(RuntimeError):
    """A source column changed type; bronze cannot take it without a decision by a person."""


def row_hash(source_columns: list[str]) -> Column:
    """SHA-256 over the JSON of the source columns: equal rows, equal hash."""
    return F.sha2(F.to_json(F.struct(*[F.col(c) for c in source_columns])), 256)


def with_ingest_metadata(
    df: DataFrame, *, source: str, run_id: str, ingested_at: datetime
) -> DataFrame:
    """Adds ``_row_hash``, ``_ingested_at``, ``_source``, ``_run_id`` after the source columns."""
    source_columns = [c for c in df.columns if c not in META_COLUMNS]
    return df.select(
        *source_columns,
        row_hash(source_columns).alias("_row_hash"),
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
        F.lit(source).alias("_source"),
        F.lit(run_id).alias("_run_id"),
    )


def align_to_bronze(spark: SparkSession, path: str, inc_df: DataFrame) -> DataFrame:
    """Carries schema drift into bronze: new source columns are added to the table (logged),
    columns gone from the source are kept and filled with nulls, a changed type is an error."""
    target = spark.read.format("delta").load(path).schema
    target_types = {f.name: f.dataType for f in target.fields}
    for field in inc_df.schema.fields:
        if field.name not in target_types:
            log.warning(
                "schema drift: source column %s (%s) is new; adding it to %s",
                field.name,
                field.dataType.simpleString(),
                path,
            )
            spark.sql(
                f"ALTER TABLE delta.`{path}` ADD COLUMNS "
                f"(`{field.name}` {field.dataType.simpleString()})"
            )
        elif field.dataType != target_types[field.name]:
            raise SchemaDriftError(
                f"source column {field.name} changed type from "
                f"{target_types[field.name].simpleString()} to {field.dataType.simpleString()}"
            )
    missing = [f for f in target.fields if f.name not in inc_df.columns]
    for f in missing:
        log.warning(
            "schema drift: column %s is no longer in the source; bronze keeps it (null)", f.name
        )
    return inc_df.select(
        *inc_df.columns, *[F.lit(None).cast(f.dataType).alias(f.name) for f in missing]
    )


def changed_rows(spark: SparkSession, path: str, inc_df: DataFrame, key: str) -> DataFrame:
    """Rows of the increment that are new, or differ from bronze's copy of the same key.

    Bronze is first cut down to the increment's keys with a broadcast semi-join (the increment
    is the small side), so the comparison costs one column-pruned scan of bronze and no shuffle
    of it, however large bronze grows.
    """
    keys_df = F.broadcast(inc_df.select(key))
    current = (
        spark.read.format("delta")
        .load(path)
        .select(key, "_row_hash")
        .join(keys_df, on=key, how="left_semi")
    )
    return inc_df.join(current, on=[key, "_row_hash"], how="left_anti")


def upsert(spark: SparkSession, path: str, inc_df: DataFrame, key: str) -> tuple[int, int | None]:
    """Writes the increment into bronze; returns (rows written, bronze version or None).

    The first load creates the table in one commit; later loads MERGE by ``key``, updating only
    rows whose hash changed. Nothing is committed when nothing changed.
    """
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        inc_df.write.format("delta").mode("append").save(path)
        return _written(spark, path)
    aligned = align_to_bronze(spark, path, inc_df).persist()  # read the source once
    changes = changed_rows(spark, path, aligned, key).persist()
    try:
        started = time.monotonic()
        n = changes.count()
        log.info(
            "%s: %d of the rows read are new or changed (compared in %.1fs)",
            path,
            n,
            time.monotonic() - started,
        )
        if n == 0:
            return 0, None
        failpoints.hit("before_bronze_commit")
        started = time.monotonic()
        (
            DeltaTable.forPath(spark, path)
            .alias("t")
            .merge(changes.alias("s"), f"t.{key} = s.{key}")
            # every source row differs from bronze (changed_rows), so no update condition: the
            # MERGE then reads only the key column of bronze to find the matched rows
            .whenMatchedUpdateAll()
            .whenNotMatchedInsertAll()
            .execute()
        )
        log.info("%s: merged in %.1fs", path, time.monotonic() - started)
    finally:
        changes.unpersist()
        aligned.unpersist()
    return _written(spark, path)


def overwrite(spark: SparkSession, path: str, full_df: DataFrame) -> tuple[int, int | None]:
    """Replaces bronze with a full read in one commit (``--full-refresh``)."""
    full_df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    return _written(spark, path)


def _written(spark: SparkSession, path: str) -> tuple[int, int]:
    from delta.tables import DeltaTable

    last = DeltaTable.forPath(spark, path).history(1).select("version", "operationMetrics").first()
    metrics = last.operationMetrics or {}
    rows = int(metrics.get("numOutputRows") or 0)
    if "numTargetRowsInserted" in metrics:
        rows = int(metrics["numTargetRowsInserted"]) + int(metrics.get("numTargetRowsUpdated", 0))
    return rows, int(last.version)
