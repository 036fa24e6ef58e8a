"""Small Delta helpers shared by the jobs: commit metrics, change-feed reads, keyed merges."""

from __future__ import annotations

from collections.abc import Sequence

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from aml import delta_log

CDF_COLUMNS = ("_change_type", "_commit_version", "_commit_timestamp")


def exists(spark: SparkSession, path: str) -> bool:
    from delta.tables import DeltaTable

    return DeltaTable.isDeltaTable(spark, path)


def last_commit(spark: SparkSession, path: str) -> tuple[int, dict[str, str]]:
    """(version, operation metrics) of a table's newest commit."""
    from delta.tables import DeltaTable

    row = DeltaTable.forPath(spark, path).history(1).select("version", "operationMetrics").first()
    return int(row.version), dict(row.operationMetrics or {})


def rows_written(metrics: dict[str, str]) -> int:
    """Rows a commit inserted or updated (MERGE) or wrote (WRITE)."""
    if "numTargetRowsInserted" in metrics:
        return int(metrics["numTargetRowsInserted"]) + int(metrics.get("numTargetRowsUpdated", 0))
    return int(metrics.get("numOutputRows") or 0)


def current_version(spark: SparkSession, path: str) -> int:
    """The table's newest version. A local table's from a listing of its log (no Spark job: a
    query of the history costs one, a third of a second in a warm session and about a second
    in a new one, ``bench/bench_gold_overhead.py``; a gold run asks for half a dozen versions);
    a remote one's from its history."""
    version = delta_log.newest_version(path)
    return version if version is not None else last_commit(spark, path)[0]


def snapshot(spark: SparkSession, path: str) -> delta_log.Snapshot | None:
    """A table's rows, files, version and last commit (None: no table). A local table's from its
    log (:func:`aml.delta_log.snapshot`, no Spark job); otherwise, or when the log's statistics
    are missing, by Spark: the newest history row, the table detail's file count and a count."""
    from delta.tables import DeltaTable

    snap = delta_log.snapshot(path)
    if snap is not None or not exists(spark, path):
        return snap
    last = DeltaTable.forPath(spark, path).history(1).first()
    files = spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["numFiles"]
    rows = spark.read.format("delta").load(path).count()
    return delta_log.Snapshot(
        int(last.version), rows, int(files), last.timestamp.replace(tzinfo=None)
    )


def change_feed(spark: SparkSession, path: str, after: int, upto: int) -> DataFrame:
    """Every change-feed row of versions ``(after, upto]``: old and new images, deletes."""
    return (
        spark.read.format("delta")
        .option("readChangeFeed", "true")
        .option("startingVersion", after + 1)
        .option("endingVersion", upto)
        .load(path)
    )


def newest_images(feed_df: DataFrame, key: str) -> DataFrame:
    """The rows of a :func:`change_feed` as the table holds them at the feed's last version:
    per ``key``, its newest image, without the feed's columns; a key whose newest change is a
    delete is not in the table, so not in the result (an overwrite deletes and inserts a key in
    one version: the insert is newer)."""
    order = Window.partitionBy(key).orderBy(
        F.col("_commit_version").desc(), (F.col("_change_type") == "delete").asc()
    )
    return (
        feed_df.where(F.col("_change_type") != "update_preimage")
        .withColumn("_newest", F.row_number().over(order))
        .where((F.col("_newest") == 1) & (F.col("_change_type") != "delete"))
        .drop("_newest", *CDF_COLUMNS)
    )


def changes_between(spark: SparkSession, path: str, after: int | None, upto: int) -> DataFrame:
    """Rows inserted or updated in versions ``(after, upto]``, with ``_commit_version``.

    ``after=None`` means everything: the snapshot at ``upto``, each row tagged with ``upto``.
    """
    if after is None:
        snapshot = spark.read.format("delta").option("versionAsOf", upto).load(path)
        return snapshot.withColumn("_commit_version", F.lit(upto).cast("long"))
    feed = change_feed(spark, path, after, upto)
    return feed.where(F.col("_change_type").isin("insert", "update_postimage")).drop(
        "_change_type", "_commit_timestamp"
    )


def merge_upsert_delete(
    spark: SparkSession,
    path: str,
    upserts_df: DataFrame,
    delete_keys_df: DataFrame,
    key: str,
    columns: Sequence[str],
) -> None:
    """One MERGE that upserts ``upserts_df`` by ``key`` and deletes the rows of other keys.

    Used to keep "every id in exactly one of silver or quarantine": an id that turned bad is
    deleted from silver in the same commit that upserts the good ones, and the other way round.
    """
    from delta.tables import DeltaTable

    marked = upserts_df.select(*columns).withColumn("_delete", F.lit(False))
    doomed = delete_keys_df.select(key).dropDuplicates()
    for col_name in columns:
        if col_name != key:
            doomed = doomed.withColumn(
                col_name, F.lit(None).cast(upserts_df.schema[col_name].dataType)
            )
    source = marked.unionByName(doomed.select(*columns).withColumn("_delete", F.lit(True)))
    values = {c: f"s.`{c}`" for c in columns}
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(source.alias("s"), f"t.`{key}` = s.`{key}`")
        .whenMatchedDelete(condition="s._delete")
        .whenMatchedUpdate(set=values)
        .whenNotMatchedInsert(condition="NOT s._delete", values=values)
        .execute()
    )
