"""Row counts, versions and commit times read from the Delta log agree with Spark's, through
appends, deletes, merges, deletion vectors and checkpoints."""

from __future__ import annotations

from delta.tables import DeltaTable
from pyspark.sql import functions as F

from aml.delta_io import current_version
from aml.delta_log import newest_version, snapshot


def _agrees(spark, path: str) -> None:
    snap = snapshot(path)
    assert snap is not None
    last = DeltaTable.forPath(spark, path).history(1).first()
    assert snap.rows == spark.read.format("delta").load(path).count()
    assert snap.version == last.version
    assert abs((snap.last_commit_utc - last.timestamp.replace(tzinfo=None)).total_seconds()) < 1


def test_counts_follow_appends_deletes_merges_and_checkpoints(spark, tmp_path):
    path = str(tmp_path / "t")
    spark.range(0, 100).write.format("delta").save(path)
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES (delta.checkpointInterval = 3)")
    _agrees(spark, path)
    spark.range(100, 150).write.format("delta").mode("append").save(path)
    table = DeltaTable.forPath(spark, path)
    table.delete("id % 7 = 0")
    _agrees(spark, path)
    (
        table.alias("t")
        .merge(spark.range(140, 170).alias("s"), "t.id = s.id")
        .whenNotMatchedInsertAll()
        .whenMatchedDelete()
        .execute()
    )
    assert (tmp_path / "t" / "_delta_log" / "_last_checkpoint").is_file()
    _agrees(spark, path)
    spark.range(0, 5).write.format("delta").mode("overwrite").save(path)
    _agrees(spark, path)


def test_deletion_vectors_are_subtracted(spark, tmp_path):
    path = str(tmp_path / "dv")
    (
        spark.range(0, 1000).repartition(1).write.format("delta")
        .option("delta.enableDeletionVectors", "true").save(path)
    )  # fmt: skip
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES (delta.enableDeletionVectors = true)")
    DeltaTable.forPath(spark, path).delete(F.col("id") < 10)
    _agrees(spark, path)
    assert snapshot(path).rows == 990


def test_not_a_local_delta_table_is_none(tmp_path):
    assert snapshot(str(tmp_path)) is None
    assert snapshot("s3a://bucket/lake/silver/transactions") is None


def test_the_newest_version_is_the_history_s_through_commits_and_checkpoints(spark, tmp_path):
    """What ``delta_io.current_version`` answers for a local table, with no Spark job; None for
    a path that holds no table."""
    path = str(tmp_path / "v")
    assert newest_version(path) is None
    spark.range(0, 10).write.format("delta").save(path)
    spark.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES (delta.checkpointInterval = 2)")
    for n in range(3):
        spark.range(n, n + 1).write.format("delta").mode("append").save(path)
    DeltaTable.forPath(spark, path).delete("id = 0")
    newest = DeltaTable.forPath(spark, path).history(1).first().version
    assert newest_version(path) == newest == 5
    assert current_version(spark, path) == newest
