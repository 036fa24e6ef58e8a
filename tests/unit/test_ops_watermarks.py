"""aml.ops: watermarks read and moved directly, and through a run's WatermarkBook (one read of
``ops.watermarks``, one commit of every move at the end, also after a failure)."""

from __future__ import annotations

import pytest

from aml import delta_io
from aml.ops import Watermark, commit_watermark, read_watermark, watermark_book


@pytest.fixture()
def config(lake_config, tmp_path):
    return lake_config.with_lake(tmp_path / "lake", tmp_path / "checkpoints")


def _commits(spark, config) -> int:
    return delta_io.current_version(spark, config.table_path("ops", "watermarks"))


def test_the_newest_move_of_each_table_is_its_watermark(spark, config):
    assert read_watermark(spark, config, "postgres", "accounts") is None
    commit_watermark(spark, config, "postgres", "accounts", Watermark("t1", None), "r1", 1)
    commit_watermark(spark, config, "postgres", "transactions", Watermark("t1", 7, "c"), "r1", 1)
    commit_watermark(spark, config, "postgres", "accounts", Watermark("t2", None), "r2", 2)
    assert read_watermark(spark, config, "postgres", "accounts") == Watermark("t2", None, None)
    assert read_watermark(spark, config, "postgres", "transactions") == Watermark("t1", 7, "c")
    assert read_watermark(spark, config, "mariadb", "accounts") is None


def test_a_book_reads_once_sees_its_own_moves_and_writes_them_in_one_commit(spark, config):
    commit_watermark(spark, config, "silver", "gold", Watermark("3", None), "r0", 3)
    before = _commits(spark, config)
    with watermark_book(spark, config) as book:
        assert read_watermark(spark, config, "silver", "gold") == Watermark("3", None)
        commit_watermark(spark, config, "silver", "gold", Watermark("4", None), "r1", 4)
        commit_watermark(spark, config, "silver", "profiles", Watermark("4|h", None), "r1", 4)
        # later reads in the run see the moves; the table does not have them yet
        assert read_watermark(spark, config, "silver", "gold") == Watermark("4", None)
        assert read_watermark(spark, config, "silver", "profiles") == Watermark("4|h", None)
        assert _commits(spark, config) == before
        assert len(book.pending) == 2
    assert _commits(spark, config) == before + 1
    assert read_watermark(spark, config, "silver", "gold") == Watermark("4", None)
    assert read_watermark(spark, config, "silver", "profiles") == Watermark("4|h", None)


def test_a_failed_block_still_writes_the_moves_made_before_the_failure(spark, config):
    with pytest.raises(RuntimeError, match="step failed"), watermark_book(spark, config):
        commit_watermark(spark, config, "postgres", "accounts", Watermark("t9", None), "r", 1)
        raise RuntimeError("step failed")
    assert read_watermark(spark, config, "postgres", "accounts") == Watermark("t9", None)


def test_a_book_with_no_move_commits_nothing(spark, config):
    commit_watermark(spark, config, "silver", "gold", Watermark("1", None), "r0", 1)
    before = _commits(spark, config)
    with watermark_book(spark, config):
        assert read_watermark(spark, config, "silver", "gold") == Watermark("1", None)
    assert _commits(spark, config) == before


def test_a_move_recorded_before_the_first_read_is_what_that_read_returns(spark, config):
    """A full refresh moves a watermark without reading it; a later read in the run (another
    table read first, or the same table) must not answer the table's older row."""
    commit_watermark(spark, config, "silver", "gold", Watermark("1", None), "r0", 1)
    with watermark_book(spark, config):
        commit_watermark(spark, config, "silver", "gold", Watermark("2", None), "r1", 2)
        assert read_watermark(spark, config, "silver", "gold") == Watermark("2", None)


def test_a_book_opened_inside_another_joins_it_and_the_outer_one_writes_every_move(spark, config):
    """A job that keeps its own book (the gold job) run as a step of ``aml run``: its moves are
    the run's, written in the run's one commit when the run's book closes."""
    commit_watermark(spark, config, "silver", "gold", Watermark("1", None), "r0", 1)
    before = _commits(spark, config)
    with watermark_book(spark, config) as outer:
        commit_watermark(spark, config, "postgres", "accounts", Watermark("t1", None), "r1", 1)
        with watermark_book(spark, config) as inner:
            assert inner is outer
            commit_watermark(spark, config, "silver", "gold", Watermark("2", None), "r1", 2)
        assert _commits(spark, config) == before
        assert len(outer.pending) == 2
    assert _commits(spark, config) == before + 1
    assert read_watermark(spark, config, "silver", "gold") == Watermark("2", None)
    assert read_watermark(spark, config, "postgres", "accounts") == Watermark("t1", None)
