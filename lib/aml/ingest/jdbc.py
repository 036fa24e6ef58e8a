"""The source side of ingestion: increment bounds by watermark, and parallel JDBC reads.

The bounds are asked with the Python driver (one short query each) before Spark reads, which
gives a clear error when the source is down and lets the read be split on the primary key's real
range. Each Spark partition then runs its own bounded ``SELECT``, so no long transaction is held
on the source.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from aml.config import Config
from aml.ingest.spec import TableSpec
from aml.ops import Watermark
from aml.sources import db

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"


@dataclass(frozen=True)
class Increment:
    """What one run reads: ``predicate`` over the source table, and its key range and size."""

    predicate: str
    rows: int
    min_key: int | None
    max_key: int | None
    new_mark: Watermark | None


def _ts(value: datetime | str) -> str:
    return value.strftime(TS_FORMAT) if isinstance(value, datetime) else str(value)


def increment_predicate(
    spec: TableSpec, mark: Watermark | None, lookback_s: int, upper: str
) -> str:
    """SQL predicate (valid on PostgreSQL and MariaDB) selecting the rows this run reads.

    Rows after the watermark by the keyset ``(updated_at, key)``, or by ``updated_at`` alone when
    the watermark keeps no key (a personal key, :class:`TableSpec`): the rows at the watermark's
    exact time were all read by the run that set it, and one committed later at that time is a
    late commit, which the look-back re-reads like any other. Plus, with a look-back, every
    row whose ``updated_at`` is at most ``lookback_s`` older than the previous run's source clock:
    a transaction that started before that run and committed after it has such an ``updated_at``
    (as long as it lasted less than the look-back). Both stop at ``upper``, the source's largest
    ``updated_at`` when this run started. The look-back is anchored on the clock, not on the
    watermark, so a bulk load long ago is not re-read by every increment.
    """
    wm, pk = spec.watermark_column, spec.primary_key
    upper_cond = f"{wm} <= TIMESTAMP '{upper}'"
    if mark is None:
        return upper_cond
    keyset = f"{wm} > TIMESTAMP '{mark.value}'"
    if mark.key is not None:
        keyset += f" OR ({wm} = TIMESTAMP '{mark.value}' AND {pk} > {mark.key})"
    if lookback_s <= 0:
        return f"({keyset}) AND {upper_cond}"
    anchor = datetime.strptime(mark.source_time or mark.value, TS_FORMAT)
    late = _ts(anchor - timedelta(seconds=lookback_s))
    return f"({keyset} OR {wm} >= TIMESTAMP '{late}') AND {upper_cond}"


CLOCK_SQL = {
    "postgresql": "SELECT CAST(statement_timestamp() AT TIME ZONE 'UTC' AS TIMESTAMP(6))",
    "mysql": "SELECT UTC_TIMESTAMP(6)",
}


def plan_increment(
    config: Config, source: str, spec: TableSpec, mark: Watermark | None, lookback_s: int
) -> Increment:
    """Asks the source for the increment's bounds (raises ``db.SourceError`` when unreachable)."""
    table = f"{db.schema_name(config, source)}.{spec.source_table}"
    wm, pk = spec.watermark_column, spec.primary_key
    with db.connect(config, source, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(CLOCK_SQL[db.source_kind(config, source)])
        clock = _ts(cur.fetchone()[0])
        cur.execute(f"SELECT MAX({wm}) FROM {table}")
        upper = cur.fetchone()[0]
        if upper is None:
            return Increment("1 = 0", 0, None, None, None)
        upper_s = _ts(upper)
        predicate = increment_predicate(spec, mark, lookback_s, upper_s)
        cur.execute(f"SELECT COUNT(*), MIN({pk}), MAX({pk}) FROM {table} WHERE {predicate}")
        rows, min_key, max_key = cur.fetchone()
        mark_key = None
        if not spec.key_is_personal:  # a personal key never goes into ops.watermarks
            cur.execute(f"SELECT MAX({pk}) FROM {table} WHERE {wm} = TIMESTAMP '{upper_s}'")
            mark_key = cur.fetchone()[0]
    return Increment(predicate, int(rows), min_key, max_key, Watermark(upper_s, mark_key, clock))


def read_increment(
    spark: SparkSession, config: Config, source: str, spec: TableSpec, inc: Increment
) -> DataFrame:
    """Reads the increment with Spark's JDBC source, split on the primary key's range."""
    settings = config.section("ingest")
    per_part = int(settings.get("rows_per_partition", 200_000))
    partitions = max(1, min(int(settings.get("max_partitions", 8)), math.ceil(inc.rows / per_part)))
    table = f"{db.schema_name(config, source)}.{spec.source_table}"
    reader = (
        spark.read.format("jdbc")
        .option("url", db.jdbc_url(config, source))
        .option("dbtable", f"(SELECT * FROM {table} WHERE {inc.predicate}) inc")
        .option("fetchsize", str(settings.get("fetch_size", 10_000)))
        .options(**db.jdbc_properties(config, source))
    )
    if db.source_kind(config, source) == "mysql":
        # TIMESTAMP columns are stored in UTC; read them without a session-zone shift.
        reader = reader.option("sessionInitStatement", "SET time_zone = '+00:00'")
    if spec.custom_schema:
        reader = reader.option("customSchema", spec.custom_schema)
    if partitions > 1 and inc.min_key is not None:
        reader = (
            reader.option("partitionColumn", spec.primary_key)
            .option("lowerBound", str(inc.min_key))
            .option("upperBound", str(inc.max_key + 1))
            .option("numPartitions", str(partitions))
        )
    log.info(
        "reading %s.%s: %d rows in %d partition(s)", source, spec.source_table, inc.rows, partitions
    )
    return reader.load()
