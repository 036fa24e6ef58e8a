"""What the streaming job does with each micro-batch: bronze, silver, gold, alerts, progress.

Every step is one the batch jobs also run, driven by the same watermarks, so a micro-batch is
idempotent and a crash anywhere is repaired by the replay:

1. append the batch's messages to ``bronze.transaction_events`` (Delta skips a batch id it has
   already committed for this query);
2. build silver from bronze's change feed after the version silver has consumed
   (``aml.silver.job.build_transactions`` with the events feed: envelope checks, then the very
   transaction checks, conforming, enrichment and encryption of the JDBC path);
3. bring gold up to that silver version (``aml.gold.job.advance``: the subjects the new rows
   touch, the Great Expectations gate, keyed publish), sending new and changed alerts to Kafka
   between the publish and the consumed-version commit;
4. record the batch in ``ops.stream_progress``.

Steps 2 and 3 read everything after their own watermark, not just this batch: after a crash
the next batch also finishes what the killed one had started.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field, replace
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aml.config import Config
from aml.gold import job as gold_job
from aml.ops import JobRun, utcnow
from aml.silver import job as silver_job
from aml.silver.transactions import SilverContext
from aml.stream import events, progress
from aml.stream.alerts_out import AlertPublisher

log = logging.getLogger(__name__)


class StopRequested(RuntimeError):
    """Raised at the start of a micro-batch once a stop was asked for: the batch is not
    committed, so the next start replays it."""


def events_feed(max_message_bytes: int) -> silver_job.TransactionFeed:
    return silver_job.TransactionFeed(
        bronze_table=events.TABLE,
        progress=("bronze_events", "silver.transactions"),
        to_raw=events.raw_builder(max_message_bytes),
        checks=("transaction_events", "transactions"),
    )


@dataclass
class MicroBatchProcessor:
    """The ``foreachBatch`` function of the streaming query (it runs in the driver).

    Attributes:
        checkpoint: the query's checkpoint location.
        app_id: Delta ``txnAppId`` of bronze appends: the streaming query's id (from the
            checkpoint), stable across restarts from the same checkpoint.
        stopping: set by the job on SIGTERM; a batch that starts after it raises
            :class:`StopRequested`.
        in_batch: a batch is being processed (the job waits for it before stopping).
    """

    spark: SparkSession
    config: Config
    job_run: JobRun
    ctx: SilverContext
    publisher: AlertPublisher
    max_message_bytes: int
    checkpoint: str
    app_id: str = ""
    stopping: bool = False
    in_batch: bool = False
    batches: int = 0
    _last_start: float | None = None
    totals: dict[str, int] = field(default_factory=lambda: {"events": 0, "alerts": 0})

    def __call__(self, batch_df: DataFrame, batch_id: int) -> None:
        if self.stopping:
            raise StopRequested(f"stop requested before batch {batch_id}")
        self.in_batch = True
        if not self.app_id:
            self.app_id = f"stream_transactions-{query_id(self.spark, self.checkpoint)}"
        try:
            self._process(batch_df, batch_id)
        finally:
            self.in_batch = False

    def _process(self, batch_df: DataFrame, batch_id: int) -> None:
        started, started_at = time.monotonic(), utcnow()
        since_last = started - self._last_start if self._last_start is not None else None
        self._last_start = started
        bronze_df = events.from_kafka(batch_df, batch_id, started_at).persist()
        try:
            n_events = bronze_df.count()
            if n_events == 0:
                # Spark's first trigger on an empty topic plans an empty batch: nothing to land,
                # and an unfinished earlier batch is finished by the next one with events
                log.info("batch %d: no events", batch_id)
                return
            events.append(bronze_df, events.bronze_path(self.config), self.app_id, batch_id)
            arrivals = self._arrivals(bronze_df)
        finally:
            bronze_df.unpersist()
        run = self.job_run
        silver_before, quarantined_before = run.rows_written, run.rows_quarantined
        self.publisher.sent, self.publisher.sent_ids = 0, []
        feed = events_feed(self.max_message_bytes)
        # "now" for this batch: the FUTURE_TIMESTAMP check and the rows' _processed_at
        ctx = replace(self.ctx, processed_at=started_at.replace(microsecond=0))
        built = silver_job.build_transactions(self.spark, self.config, run, ctx, False, feed)
        silver_rows = run.rows_written - silver_before
        if not built:
            log.info("batch %d: silver had consumed these events already (a replay)", batch_id)
        # also when silver had nothing new: a killed batch may have stopped before gold
        gold_job.advance(
            self.spark, self.config, run, on_published=self.publisher, update_docs=False
        )
        sent_at_ms = int(time.time() * 1000)
        latencies = [
            sent_at_ms - max(arrivals[i] for i in ids if i in arrivals)
            for ids in self.publisher.sent_ids
            if any(i in arrivals for i in ids)
        ]
        duration = time.monotonic() - started
        self.batches += 1
        self.totals["events"] += n_events
        self.totals["alerts"] += self.publisher.sent
        progress.record(
            self.spark,
            self.config,
            progress.BatchProgress(
                query_id=self.app_id,
                run_id=run.run_id,
                batch_id=batch_id,
                started_at=started_at,
                ended_at=utcnow(),
                duration_ms=int(duration * 1000),
                input_rows=n_events,
                input_rows_per_s=n_events / since_last if since_last else None,
                processed_rows_per_s=n_events / duration if duration else None,
                silver_rows=silver_rows,
                quarantined_rows=run.rows_quarantined - quarantined_before,
                alerts_sent=self.publisher.sent,
                latency_p50_ms=progress.percentile(latencies, 0.50),
                latency_p95_ms=progress.percentile(latencies, 0.95),
                latency_max_ms=max(latencies) if latencies else None,
            ),
        )

    @staticmethod
    def _arrivals(bronze_df: DataFrame) -> dict[int, int]:
        """transaction id -> Kafka timestamp (ms) of this batch's events that carry a usable id."""
        tx_id = F.get_json_object(F.col("value").cast("string"), "$.transaction_id")
        rows = (
            bronze_df.select(
                tx_id.try_cast("bigint").alias("id"),
                F.unix_millis("kafka_timestamp").alias("ts"),
            )
            .where("id IS NOT NULL")
            .collect()
        )
        return {int(r["id"]): int(r["ts"]) for r in rows}


def query_id(spark: SparkSession, location: str) -> str:
    """The query's id from its checkpoint (written when the query starts, before any batch):
    stable across restarts, new when the checkpoint is new."""
    line = spark.read.text(f"{location}/metadata").first()
    return str(json.loads(line["value"])["id"])


def summary(processor: MicroBatchProcessor) -> dict[str, Any]:
    return {"batches": processor.batches, **processor.totals}
