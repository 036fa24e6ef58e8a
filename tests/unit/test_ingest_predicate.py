"""The increment predicate (architecture.md, "Ingestion"): which source rows a run reads, given
the watermark, the look-back and the run's upper bound. Evaluated by Spark SQL over a small table
of ``(id, updated_at)`` rows, the same SQL the sources run."""

from __future__ import annotations

from datetime import datetime

import pytest

from aml.ingest.jdbc import increment_predicate
from aml.ingest.spec import TableSpec
from aml.ops import Watermark

KEYED = TableSpec("transactions", "transactions", "id", "updated_at")
PERSONAL = TableSpec("accounts", "accounts", "id", "updated_at", key_is_personal=True)

MARK_TIME = "2026-01-01 12:00:00.000000"
CLOCK = "2026-01-01 12:30:00.000000"
UPPER = "2026-01-01 13:00:00.000000"
ROWS = [  # (id, updated_at)
    (1, "2026-01-01 11:59:59.999999"),  # before the watermark
    (2, MARK_TIME),  # tied at the watermark, key at or below its tie-breaker
    (3, MARK_TIME),
    (4, MARK_TIME),  # tied, key above the tie-breaker
    (5, "2026-01-01 12:20:00.000000"),  # after the watermark, within 10 min of the clock
    (6, "2026-01-01 12:25:00.000000"),
    (7, UPPER),  # at the upper bound: inside
    (8, "2026-01-01 13:00:00.000001"),  # past the upper bound: the next run's
]


@pytest.fixture(scope="module")
def source(spark):
    rows = [(i, datetime.strptime(t, "%Y-%m-%d %H:%M:%S.%f")) for i, t in ROWS]
    return spark.createDataFrame(rows, "id BIGINT, updated_at TIMESTAMP").cache()


def read(source, spec: TableSpec, mark: Watermark | None, lookback_s: int = 0) -> list[int]:
    predicate = increment_predicate(spec, mark, lookback_s, UPPER)
    return sorted(r.id for r in source.where(predicate).select("id").collect())


def test_first_run_reads_everything_up_to_the_upper_bound(source):
    assert read(source, KEYED, None) == [1, 2, 3, 4, 5, 6, 7]


def test_keyed_watermark_reads_ties_above_its_key_and_everything_after(source):
    assert read(source, KEYED, Watermark(MARK_TIME, 3, CLOCK)) == [4, 5, 6, 7]


def test_personal_watermark_reads_strictly_after_its_time(source):
    # no key was kept, so the rows tied at the mark (all read by the run that set it) stay read
    assert read(source, PERSONAL, Watermark(MARK_TIME, None, CLOCK)) == [5, 6, 7]


def test_look_back_rereads_late_commits_near_the_previous_clock_only(source):
    mark = Watermark(MARK_TIME, None, CLOCK)  # previous run's clock 12:30
    # look-back 40 min: everything from 11:50 on, the ties at the mark included
    assert read(source, PERSONAL, mark, 40 * 60) == [1, 2, 3, 4, 5, 6, 7]
    # look-back 30 min reaches exactly back to the mark's time: the ties are inside
    assert read(source, PERSONAL, mark, 30 * 60) == [2, 3, 4, 5, 6, 7]
    # look-back 10 min (12:20 on): the row at 12:20 is inside, the ties stay read
    assert read(source, PERSONAL, mark, 10 * 60) == [5, 6, 7]
    # without a source time the look-back is anchored on the mark itself
    assert read(source, PERSONAL, Watermark("2026-01-01 12:20:00.000000", None), 60) == [5, 6, 7]
