"""``aml stream`` / ``jobs/stream_transactions.py``: Kafka into bronze, silver and gold, always on.

A Structured Streaming query reads ``aml.transactions.v1`` and hands each micro-batch to
:class:`aml.stream.batch.MicroBatchProcessor` (``foreachBatch``), which lands it in
``bronze.transaction_events`` and runs the silver and gold steps of the batch jobs on it, then
sends new and changed alerts to ``aml.alerts.v1``.

It runs until stopped, on the trigger of ``[stream].trigger``; ``--available-now`` drains what
the topic holds and stops (catch-up). SIGTERM or Ctrl-C lets the running micro-batch finish and
then stops the query: a batch that had not started is replayed by the next start, which resumes
from the checkpoint (``<checkpoints>/stream_transactions``).
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from pyspark.sql import SparkSession

from aml.config import Config, load_config
from aml.ops import recorded_run
from aml.silver import job as silver_job
from aml.stream import events
from aml.stream.alerts_out import AlertPublisher
from aml.stream.batch import MicroBatchProcessor, StopRequested, summary
from aml.stream.kafka_settings import kafka_section, spark_options
from aml.stream.produce import make_producer

log = logging.getLogger(__name__)
JOB = "stream_transactions"
# restarts of the query after a known, harmless Spark failure (see _is_replay_metrics_bug)
MAX_RESTARTS = 3
DEFAULTS: dict[str, Any] = {
    "trigger": "2 seconds",
    "max_offsets_per_trigger": 20000,
    "max_message_bytes": events.DEFAULT_MAX_MESSAGE_BYTES,
    "starting_offsets": "earliest",
    "fail_on_data_loss": True,
}


def settings(config: Config) -> dict[str, Any]:
    """``[stream]`` of the environment over the defaults."""
    return {**DEFAULTS, **config.data.get("stream", {})}


def checkpoint(config: Config) -> str:
    return f"{config.checkpoint_root.rstrip('/')}/{JOB}"


def kafka_reader(spark: SparkSession, config: Config, options: dict[str, Any]):
    topic = str(kafka_section(config)["transactions_topic"])
    bronze = events.bronze_path(config)
    start = events.starting_offsets(spark, bronze, topic) or str(options["starting_offsets"])
    return (
        spark.readStream.format("kafka")
        .options(**spark_options(config))
        .option("subscribe", topic)
        .option("startingOffsets", start)
        .option("maxOffsetsPerTrigger", int(options["max_offsets_per_trigger"]))
        .option("failOnDataLoss", str(bool(options["fail_on_data_loss"])).lower())
        .load()
    )


def run(
    spark: SparkSession,
    config: Config,
    available_now: bool = False,
    trigger: str | None = None,
    stop: threading.Event | None = None,
    max_offsets: int | None = None,
) -> dict[str, Any]:
    """Runs the streaming query until it drains (``available_now``) or ``stop`` is set."""
    options = settings(config)
    if max_offsets:
        options["max_offsets_per_trigger"] = max_offsets
    trigger = trigger or str(options["trigger"])
    stop = stop or threading.Event()
    args = {"available_now": available_now, "trigger": trigger, "env": config.name}
    with recorded_run(spark, config, JOB, args) as job_run:
        publisher = AlertPublisher(config, lambda: make_producer(config, linger_ms=0))
        processor = MicroBatchProcessor(
            spark=spark,
            config=config,
            job_run=job_run,
            ctx=silver_job.context(config),
            publisher=publisher,
            max_message_bytes=int(options["max_message_bytes"]),
            checkpoint=checkpoint(config),
        )
        try:
            for attempt in range(1, MAX_RESTARTS + 2):
                query = _start(spark, config, options, processor, available_now, trigger)
                try:
                    _await(query, processor, stop)
                    break
                except Exception as exc:  # noqa: BLE001 - only the known Spark bug is retried
                    if not _is_replay_metrics_bug(exc) or attempt > MAX_RESTARTS:
                        raise
                    log.warning("stream: Spark's Kafka source failed reporting the metrics of "
                                "a replayed micro-batch (SPARK-55271, fixed after 4.1.1); the "
                                "batch is committed, restarting the query")  # fmt: skip
        finally:
            publisher.close()
        result = summary(processor)
        job_run.rows_read = result["events"]
    log.info("stream: stopped after %d micro-batches, %d events, %d alerts sent",
             result["batches"], result["events"], result["alerts"])  # fmt: skip
    return result


def _start(
    spark: SparkSession,
    config: Config,
    options: dict[str, Any],
    processor: MicroBatchProcessor,
    available_now: bool,
    trigger: str,
) -> Any:
    writer = (
        kafka_reader(spark, config, options)
        .writeStream.queryName(JOB)
        .option("checkpointLocation", processor.checkpoint)
        .foreachBatch(processor)
    )
    writer = (
        writer.trigger(availableNow=True)
        if available_now
        else writer.trigger(processingTime=trigger)
    )
    query = writer.start()
    log.info("stream: query %s started (%s), checkpoint %s", query.id,
             "available now" if available_now else f"every {trigger}",
             processor.checkpoint)  # fmt: skip
    return query


def _is_replay_metrics_bug(exc: BaseException) -> bool:
    """Spark 4.1.1's Kafka source throws this NullPointerException while reporting progress of
    the first micro-batch a restarted query replays from its offset log, after the batch was
    committed (SPARK-55271). Nothing is lost: starting the query again goes on from the commit.
    """
    text = str(exc)
    return "scala.Option.get()" in text and "IterableOps.map" in text


def _await(query: Any, processor: MicroBatchProcessor, stop: threading.Event) -> None:
    """Waits for the query to end; on ``stop``, lets a running batch finish, then stops it.

    A query that failed raises; one that ended because a stop was asked for (its next batch
    raised :class:`StopRequested`, or it was stopped between batches) returns normally.
    """
    from pyspark.errors import StreamingQueryException

    try:
        while query.isActive:
            if stop.is_set():
                processor.stopping = True
                while processor.in_batch:
                    time.sleep(0.1)
                query.stop()
                break
            query.awaitTermination(0.5)
    except StreamingQueryException as exc:
        if not (stop.is_set() and StopRequested.__name__ in str(exc)):
            raise
    error = query.exception()
    if error is not None and not (stop.is_set() and StopRequested.__name__ in str(error)):
        raise RuntimeError(f"streaming query failed: {error}")


def execute(args: argparse.Namespace) -> int:
    from aml.spark import build_session

    config = load_config(args.env)
    spark = build_session(config, f"aml-{JOB}")
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        log.info("stream: %s received: finishing the current micro-batch, then stopping",
                 signal.Signals(signum).name)  # fmt: skip
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    result = run(spark, config, args.available_now, args.trigger, stop, args.max_offsets)
    print(f"stream: {result['batches']} micro-batches, {result['events']} events, "
          f"{result['alerts']} alert changes sent")  # fmt: skip
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--available-now",
        action="store_true",
        help="process what the topic holds now, then stop (catch-up)",
    )
    parser.add_argument("--trigger", default=None, help="e.g. '2 seconds' (default [stream])")
    parser.add_argument(
        "--max-offsets",
        type=int,
        default=None,
        help="most events per micro-batch (default [stream].max_offsets_per_trigger)",
    )


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("stream", help="Kafka into bronze, silver and gold, always on")
    add_arguments(parser)
    parser.set_defaults(func=execute)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jobs/stream_transactions.py`` (spark-submit)."""
    from aml.cli import job_main

    return job_main(JOB, __doc__.splitlines()[0], add_arguments, execute, argv)


if __name__ == "__main__":
    sys.exit(main())
