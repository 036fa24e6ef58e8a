"""Holding a DataFrame's rows for SQL statements that read them many times.

``DataFrame.persist()`` does not help a SQL statement given the DataFrame as a parameter
(``spark.sql("... {tx} ...", tx=df)``) or through a temporary view: with Spark 4.1 such a
statement plans every reference to ``{tx}`` from the source again (for silver: a scan of the
Delta files per reference; a rule reads its rows several times). A local checkpoint puts the
computed rows in the plan itself, so every reference reads them from the block manager.
Measured on a 20,000-row silver: rule pack v2 over a persisted silver 49-68 s, over a
checkpointed one 15-18 s (``bench/bench_pipeline.py`` has the end-to-end effect).

The blocks of a local checkpoint are freed only when the JVM collects the RDD, which in a
long-lived session (``aml run``, the streaming job) can be much later: :func:`held` frees them
as soon as the caller is done.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager

from pyspark.sql import DataFrame

log = logging.getLogger(__name__)


def union_all(parts: Sequence[DataFrame]) -> DataFrame:
    """The rows of every frame in ``parts`` (at least one), matched by column name.

    Unioned pairwise as a balanced tree, not one frame at a time: every ``unionByName`` analyses
    the plan it builds, and the analyser walks the whole of it (``DeduplicateRelations`` most
    of all: the rules' plans read the same silver rows many times), so a chain of n unions
    analyses the growing plan n times and a tree about log2(n) times. Spark flattens the nested
    unions into one when it optimises, so the plan run is the same either way. Uniting rule pack
    v2's 16 rules' hits over 20,000 silver rows (``bench/bench_gold_overhead.py``, no job run):
    3.8 s chained, 2.5 s as a tree."""
    level = list(parts)
    if not level:
        raise ValueError("union_all needs at least one frame")
    while len(level) > 1:
        level = [
            level[i].unionByName(level[i + 1]) if i + 1 < len(level) else level[i]
            for i in range(0, len(level), 2)
        ]
    return level[0]


def materialise(df: DataFrame) -> DataFrame:
    """``df`` computed once (a job now) and held in executor memory, spilling to disk."""
    return df.localCheckpoint(eager=True)


def release(df: DataFrame) -> None:
    """Frees the blocks of a :func:`materialise`\\ d DataFrame; it must not be read afterwards.
    Anything else is left alone."""
    plan = df._jdf.queryExecution().logical()  # noqa: SLF001 - the JVM plan holds the RDD
    if plan.getClass().getSimpleName() == "LogicalRDD":
        plan.rdd().unpersist(False)
    else:
        log.debug("release: not a checkpointed DataFrame (%s)", plan.getClass().getSimpleName())


@contextmanager
def held(df: DataFrame) -> Iterator[DataFrame]:
    """``with held(df) as rows_df:``: ``df`` materialised for the block, freed after it."""
    rows_df = materialise(df)
    try:
        yield rows_df
    finally:
        release(rows_df)
