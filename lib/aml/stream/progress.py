"""``ops.stream_progress``: one row per processed micro-batch, also logged as a JSON line.

Rates are the job's own measures: ``input_rows_per_s`` is the batch's events over the time since
the previous batch started (how fast events arrive), ``processed_rows_per_s`` the batch's events
over its duration (how fast they are handled; above the input rate, the backlog shrinks). The
event-to-alert latency is, for each alert the batch sent, the time from the Kafka timestamp of
the newest event of the batch in its evidence to the moment the alert was handed to Kafka.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass
from datetime import datetime

from pyspark.sql import SparkSession

from aml.config import Config
from aml.ops import append_rows

log = logging.getLogger(__name__)

SCHEMA = (
    "query_id STRING NOT NULL, run_id STRING NOT NULL, batch_id BIGINT NOT NULL, "
    "started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP NOT NULL, duration_ms BIGINT NOT NULL, "
    "input_rows BIGINT NOT NULL, input_rows_per_s DOUBLE, processed_rows_per_s DOUBLE, "
    "silver_rows BIGINT, quarantined_rows BIGINT, alerts_sent BIGINT, "
    "latency_p50_ms BIGINT, latency_p95_ms BIGINT, latency_max_ms BIGINT"
)


@dataclass
class BatchProgress:
    query_id: str
    run_id: str
    batch_id: int
    started_at: datetime
    ended_at: datetime
    duration_ms: int
    input_rows: int
    input_rows_per_s: float | None
    processed_rows_per_s: float | None
    silver_rows: int
    quarantined_rows: int
    alerts_sent: int
    latency_p50_ms: int | None
    latency_p95_ms: int | None
    latency_max_ms: int | None


def percentile(values: list[int], share: float) -> int | None:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, -(-int(share * 1000) * len(ordered) // 1000))
    return ordered[min(rank, len(ordered)) - 1]


def record(spark: SparkSession, config: Config, progress: BatchProgress) -> None:
    row = asdict(progress)
    log.info("stream progress %s", json.dumps(row, default=str, sort_keys=True))
    append_rows(spark, config.table_path("ops", "stream_progress"), SCHEMA, [row])
