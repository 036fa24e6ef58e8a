"""aml.delta_io.newest_images: a change feed's rows as the table holds them at its last version;
aml.delta_io.snapshot: a table's figures from its log or, failing that, from Spark."""

from __future__ import annotations

from chispa import assert_df_equality
from pyspark.sql import functions as F

from aml import delta_io

SCHEMA = "id BIGINT, v STRING"


def _merge(spark, path: str, rows: list[tuple], delete_ids: tuple[int, ...] = ()) -> None:
    """Upserts ``rows`` by id and deletes ``delete_ids``, in one MERGE (one table version), as
    silver moves ids between itself and quarantine."""
    delta_io.merge_upsert_delete(
        spark,
        path,
        spark.createDataFrame(rows, SCHEMA),
        spark.createDataFrame([(i,) for i in delete_ids], "id BIGINT"),
        "id",
        ["id", "v"],
    )


def _expected(spark, path: str, after: int, upto: int):
    """The table at ``upto``, cut to the ids the feed of ``(after, upto]`` touches."""
    touched_df = delta_io.change_feed(spark, path, after, upto).select("id").distinct()
    table_df = spark.read.format("delta").option("versionAsOf", upto).load(path)
    return table_df.join(touched_df, "id", "left_semi")


def _newest(spark, path: str, after: int, upto: int):
    return delta_io.newest_images(delta_io.change_feed(spark, path, after, upto), "id")


def test_updates_repeats_deletes_and_overwrites_give_the_tables_rows(spark, tmp_path):
    path = str(tmp_path / "t")
    spark.createDataFrame([(1, "a"), (2, "b"), (3, "c")], SCHEMA).write.format("delta").option(
        "delta.enableChangeDataFeed", "true"
    ).save(path)  # version 0
    _merge(spark, path, [(1, "a2"), (4, "d")])  # 1: an update and an insert
    _merge(spark, path, [(1, "a2"), (4, "d")])  # 2: the same merge repeated (a rerun)
    _merge(spark, path, [(2, "b2")], delete_ids=(3,))  # 3: an update and a delete
    _merge(spark, path, [(3, "c2")])  # 4: the deleted id comes back
    _merge(spark, path, [], delete_ids=(4,))  # 5: deleted for good
    for after, upto in [(0, 1), (0, 2), (1, 3), (0, 3), (2, 4), (0, 5), (3, 5), (4, 5)]:
        assert_df_equality(
            _newest(spark, path, after, upto),
            _expected(spark, path, after, upto),
            ignore_row_order=True,
            ignore_nullable=True,
        )
    # the feed's own columns are gone; the table's are all there, in its order
    assert _newest(spark, path, 0, 5).columns == ["id", "v"]
    assert sorted(r.id for r in _newest(spark, path, 0, 5).collect()) == [1, 2, 3]

    # an overwrite deletes and inserts every id in one version: the insert is the newest image
    spark.createDataFrame([(1, "x"), (5, "e")], SCHEMA).write.format("delta").mode(
        "overwrite"
    ).save(path)  # version 6
    newest_df = _newest(spark, path, 5, 6)
    assert_df_equality(
        newest_df, _expected(spark, path, 5, 6), ignore_row_order=True, ignore_nullable=True
    )
    assert sorted((r.id, r.v) for r in newest_df.collect()) == [(1, "x"), (5, "e")]
    # and the ids it dropped show as deletes only
    deleted = delta_io.change_feed(spark, path, 5, 6).where(F.col("_change_type") == "delete")
    assert {r.id for r in deleted.collect()} == {1, 2, 3}


def test_a_snapshot_by_spark_gives_the_figures_of_the_log(spark, tmp_path, monkeypatch):
    path = str(tmp_path / "t")
    assert delta_io.snapshot(spark, path) is None  # no table
    spark.createDataFrame([(i, "a") for i in range(6)], SCHEMA).repartition(3).write.format(
        "delta"
    ).save(path)
    _merge(spark, path, [(9, "z")], delete_ids=(0, 1))  # deletion vectors and a new file
    from_log = delta_io.snapshot(spark, path)
    assert (from_log.rows, from_log.version) == (5, 1) and from_log.files >= 3
    # a remote lake, or a log without statistics: the same figures by Spark
    monkeypatch.setattr(delta_io.delta_log, "snapshot", lambda path: None)
    by_spark = delta_io.snapshot(spark, path)
    assert (by_spark.rows, by_spark.files, by_spark.version) == (
        from_log.rows,
        from_log.files,
        from_log.version,
    )
    assert abs((by_spark.last_commit_utc - from_log.last_commit_utc).total_seconds()) < 1
