"""aml.frames: rows held for SQL statements that read them many times, and freed after."""

from __future__ import annotations

import pytest

from aml import frames


def _cached_rdds(spark) -> set[int]:
    infos = spark.sparkContext._jsc.sc().getRDDStorageInfo()  # noqa: SLF001
    return {info.id() for info in infos if info.numCachedPartitions() > 0}


def _plan(df) -> str:
    return df._jdf.queryExecution().executedPlan().toString()  # noqa: SLF001


def test_sql_reads_held_rows_not_the_source_and_release_frees_them(spark):
    source_df = spark.range(1000).selectExpr("id", "id % 7 AS k")
    before = _cached_rdds(spark)
    with frames.held(source_df) as rows_df:
        held = _cached_rdds(spark) - before
        assert len(held) == 1
        statement = spark.sql(
            "SELECT a.k, count(*) AS n FROM {t} a JOIN {t} b ON a.id = b.id GROUP BY a.k", t=rows_df
        )
        # both references read the held rows; neither recomputes the source
        assert "Range" not in _plan(statement) and "ExistingRDD" in _plan(statement)
        assert sum(r.n for r in statement.collect()) == 1000
    assert _cached_rdds(spark) - before == set()


def test_a_persisted_frame_is_not_what_sql_reads(spark):
    """Why the module exists: a persisted DataFrame handed to spark.sql is planned again from
    its source (if Spark starts reading the cache here, :func:`frames.materialise` can go)."""
    source_df = spark.range(100).persist()
    try:
        source_df.count()
        assert "InMemoryTableScan" in _plan(source_df.where("id > 1"))
        assert "InMemoryTableScan" not in _plan(spark.sql("SELECT * FROM {t}", t=source_df))
    finally:
        source_df.unpersist()


def test_release_leaves_a_frame_that_is_not_held_alone(spark):
    df = spark.range(10)
    frames.release(df)
    assert df.count() == 10


def test_union_all_keeps_every_row_of_every_frame_matched_by_name(spark):
    """Five frames (an odd count: one is carried up a level of the tree), columns in different
    orders; a single frame is itself; none is an error."""
    parts = [
        spark.range(i * 10, i * 10 + i + 1).selectExpr("id", f"'{i}' AS part")
        if i % 2
        else spark.range(i * 10, i * 10 + i + 1).selectExpr(f"'{i}' AS part", "id")
        for i in range(5)
    ]
    rows = frames.union_all(parts).collect()
    assert sorted((r.part, r.id) for r in rows) == sorted(
        (str(i), i * 10 + j) for i in range(5) for j in range(i + 1)
    )
    assert frames.union_all(parts[:1]).columns == ["part", "id"]
    with pytest.raises(ValueError, match="at least one"):
        frames.union_all([])
