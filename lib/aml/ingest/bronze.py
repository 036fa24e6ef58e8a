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
    """Rows of the increment that are new, or differ from bronze's copy of the same key, with
    ``_new`` telling which (true: the key is not in bronze).

    Bronze is first cut down to the increment's keys with a broadcast semi-join (the increment
    is the small side), so the comparison costs one scan of bronze's key and hash columns and
    no shuffle of bronze, however large bronze grows.
    """
    keys_df = F.broadcast(inc_df.select(key))
    current = (
        spark.read.format("delta")
        .load(path)
        .select(key, F.col("_row_hash").alias("_was"))
        .join(keys_df, on=key, how="left_semi")
    )
    return (
        inc_df.join(current, on=key, how="left")
        .where(F.col("_was").isNull() | (F.col("_was") != F.col("_row_hash")))
        .withColumn("_new", F.col("_was").isNull())
        .drop("_was")
    )


def upsert(spark: SparkSession, path: str, inc_df: DataFrame, key: str) -> tuple[int, int | None]:
    """Writes the increment into bronze; returns (rows written, bronze version or None).

    The first load creates the table in one commit. Later loads write only rows whose hash
    changed, in one commit: a blind append when every changed row is new (no MERGE, no scan of
    bronze), else a MERGE by ``key`` whose condition also bounds bronze's side to the updated
    keys' range, so Delta reads and marks (deletion vectors) only the files that can hold them.
    Nothing is committed when nothing changed.
    """
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        inc_df.write.format("delta").mode("append").save(path)
        return _written(spark, path)
    started = time.monotonic()
    aligned = align_to_bronze(spark, path, inc_df).persist()  # read the source once
    changes = changed_rows(spark, path, aligned, key).persist()
    try:
        return _commit_changes(spark, path, changes, key, started)
    finally:
        changes.unpersist()
        aligned.unpersist()


def _commit_changes(
    spark: SparkSession, path: str, changes: DataFrame, key: str, started: float
) -> tuple[int, int | None]:
    from delta.tables import DeltaTable

    counts = changes.agg(
        F.count(F.lit(1)).alias("n"),
        F.count_if("_new").alias("new"),
        F.min(F.when(~F.col("_new"), F.col(key))).alias("lo"),
        F.max(F.when(~F.col("_new"), F.col(key))).alias("hi"),
    ).first()
    log.info(
        "%s: %d of the rows read are new or changed (%d new, %d updates; compared in %.1fs)",
        path,
        counts.n,
        counts.new,
        counts.n - counts.new,
        time.monotonic() - started,
    )
    if counts.n == 0:
        return 0, None
    changes = changes.drop("_new")
    failpoints.hit("before_bronze_commit")
    started = time.monotonic()
    if counts.lo is None:
        # only new keys: an append commits the same rows a MERGE would insert
        changes.write.format("delta").mode("append").save(path)
        log.info("%s: appended %d new rows in %.1fs", path, counts.n, time.monotonic() - started)
        return _written(spark, path)
    target_key = F.col(f"t.{key}")
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(
            changes.alias("s"),
            (target_key == F.col(f"s.{key}")) & target_key.between(counts.lo, counts.hi),
        )
        # every source row differs from bronze (changed_rows), so no update condition: the
        # MERGE then reads only the key column of bronze to find the matched rows; a new key
        # inside the range is not matched and inserted, as it should be
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )
    log.info("%s: merged in %.1fs", path, time.monotonic() - started)
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
