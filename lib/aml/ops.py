"""The ``ops`` tables: what ran, when, on which data, and how far each source has been read.

Both tables are append-only logs, which suits an audit trail (nothing is rewritten) and keeps the
bookkeeping of a run to a few blind appends (a Delta append of one row costs a fraction of a
second; a MERGE into even a tiny table costs seconds on a small machine):

- ``ops.job_runs`` gets a RUNNING row when a run starts and a SUCCEEDED or FAILED row when it
  ends (counts, table versions, error). A killed run is the one whose only row is RUNNING.
  :func:`latest_runs` gives one row per run.
- ``ops.watermarks`` gets a row each time a watermark moves; the newest row of a
  (source, table) is the watermark, the older ones its history. ``aml run`` reads it once and
  appends its steps' moves in one commit (:class:`WatermarkBook`).
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aml.config import Config

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

log = logging.getLogger(__name__)

JOB_RUNS_SCHEMA = (
    "run_id STRING NOT NULL, job STRING NOT NULL, args STRING, status STRING NOT NULL, "
    "started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP, rows_read BIGINT, rows_written BIGINT, "
    "rows_quarantined BIGINT, table_versions MAP<STRING, BIGINT>, error STRING, "
    "phases MAP<STRING, DOUBLE>"
)
WATERMARKS_SCHEMA = (
    "source STRING NOT NULL, table_name STRING NOT NULL, watermark_value STRING NOT NULL, "
    "watermark_key BIGINT, source_time STRING, run_id STRING NOT NULL, bronze_version BIGINT, "
    "updated_at TIMESTAMP NOT NULL"
)


def append_rows(spark: SparkSession, path: str, schema: str, rows: list[dict]) -> None:
    """Appends rows in one Delta commit (creating the table on first use; a column added to
    ``schema`` since the table was created is added to it)."""
    (
        spark.createDataFrame(rows, schema)
        .write.format("delta")
        .mode("append")
        .option("mergeSchema", "true")
        .save(path)
    )


def utcnow() -> datetime:
    """Naive UTC now (Spark's session time zone is UTC, so naive values mean UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class JobRun:
    """One run of a job, recorded in ``ops.job_runs``.

    Jobs use it through :func:`recorded_run`.
    """

    spark: SparkSession
    config: Config
    job: str
    args: Mapping[str, Any]
    run_id: str = field(default_factory=lambda: uuid.uuid4().hex)
    started_at: datetime = field(default_factory=utcnow)
    rows_read: int = 0
    rows_written: int = 0
    rows_quarantined: int = 0
    table_versions: dict[str, int] = field(default_factory=dict)
    phases: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        """``with run.phase("validate"):`` adds the block's wall time to ``phases[name]``
        (logged, and read by the benchmarks); the block's Spark jobs are in job group
        ``<job>.<name>`` (:mod:`aml.spark_jobs`: the Spark UI shows them by phase)."""
        from aml.spark_jobs import tagged

        started = time.monotonic()
        try:
            with tagged(self.spark, f"{self.job}.{name}"):
                yield
        finally:
            elapsed = time.monotonic() - started
            self.phases[name] = self.phases.get(name, 0.0) + elapsed
            log.info("run %s: %s took %.1fs", self.run_id, name, elapsed)

    @property
    def path(self) -> str:
        return self.config.table_path("ops", "job_runs")

    @classmethod
    def start(
        cls, spark: SparkSession, config: Config, job: str, args: Mapping[str, Any]
    ) -> JobRun:
        run = cls(spark=spark, config=config, job=job, args=dict(args))
        run._write("RUNNING", None, None)
        log.info("run %s of %s started", run.run_id, job)
        return run

    def _write(self, status: str, ended_at: datetime | None, error: str | None) -> None:
        row = {
            "run_id": self.run_id,
            "job": self.job,
            "args": json.dumps(self.args, sort_keys=True, default=str),
            "status": status,
            "started_at": self.started_at,
            "ended_at": ended_at,
            "rows_read": self.rows_read,
            "rows_written": self.rows_written,
            "rows_quarantined": self.rows_quarantined,
            "table_versions": self.table_versions or None,
            "error": error,
            "phases": {k: round(v, 3) for k, v in self.phases.items()} or None,
        }
        append_rows(self.spark, self.path, JOB_RUNS_SCHEMA, [row])

    def succeed(self) -> None:
        self._write("SUCCEEDED", utcnow(), None)
        log.info(
            "run %s of %s succeeded: read %d, wrote %d",
            self.run_id,
            self.job,
            self.rows_read,
            self.rows_written,
        )

    def fail(self, exc: BaseException) -> None:
        # Spark errors can print query plans, which hold the token key's pads as binary
        # literals: redact those before the text is stored.
        from aml.crypto.columns import redact

        self._write("FAILED", utcnow(), redact(f"{type(exc).__name__}: {exc}")[:2000])


@contextmanager
def recorded_run(
    spark: SparkSession, config: Config, job: str, args: Mapping[str, Any]
) -> Iterator[JobRun]:
    """``with recorded_run(...) as run:`` records the run in ``ops.job_runs``: RUNNING on entry,
    SUCCEEDED on a clean exit, FAILED (with the redacted error) when the body raises."""
    run = JobRun.start(spark, config, job, args)
    try:
        yield run
    except BaseException as exc:
        run.fail(exc)
        raise
    run.succeed()


@dataclass(frozen=True)
class Watermark:
    """How far a source table has been ingested.

    Attributes:
        value: the largest ``updated_at`` covered (source text, UTC).
        key: the largest primary key at that ``updated_at`` (the keyset tie-break).
        source_time: the source's clock when the run planned its read; rows whose transaction
            committed after it can carry an ``updated_at`` up to the look-back before it.
    """

    value: str
    key: int | None
    source_time: str | None = None


def latest_runs(spark: SparkSession, config: Config) -> DataFrame:
    """``ops.job_runs`` with one row per run: its final row, or RUNNING if it never ended."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    runs = spark.read.format("delta").load(config.table_path("ops", "job_runs"))
    newest = Window.partitionBy("run_id").orderBy(F.col("ended_at").desc_nulls_last())
    return runs.withColumn("_n", F.row_number().over(newest)).where("_n = 1").drop("_n")


def _newest_marks(spark: SparkSession, path: str) -> dict[tuple[str, str], Watermark]:
    """(source, table) -> its newest watermark, for every table in ``ops.watermarks`` (one
    read of the table, one Spark job for the lot)."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    if not DeltaTable.isDeltaTable(spark, path):
        return {}
    newest = F.max_by(
        F.struct("watermark_value", "watermark_key", "source_time"), F.col("updated_at")
    )
    rows = (
        spark.read.format("delta")
        .load(path)
        .groupBy("source", "table_name")
        .agg(newest.alias("mark"))
        .collect()
    )
    return {
        (row.source, row.table_name): Watermark(
            row.mark.watermark_value, row.mark.watermark_key, row.mark.source_time
        )
        for row in rows
    }


@dataclass
class WatermarkBook:
    """The watermarks of one ``aml run``: read once, written once.

    Read per call, ``ops.watermarks`` costs a Delta snapshot and a query (six Spark jobs, one to
    four seconds on two cores); written per call, a Delta commit. A run of the three steps reads
    about ten watermarks and moves about eight. Inside :func:`watermark_book`,
    :func:`read_watermark` answers from one read of the table made at the first call, and
    :func:`commit_watermark` records the move in the book (so later reads in the run see it)
    and queues its row; the queue is appended in one commit when the book closes, whether the
    run ended or failed.

    The crash guarantee holds: a watermark is still queued only after the commit that covers
    it, and a run killed before the flush loses only moves whose work the next run repeats:
    every step's writes are keyed and idempotent (bronze's MERGE compares equal, silver's and
    gold's merges recompute the same rows), so the tables end the same.
    """

    spark: SparkSession
    config: Config
    marks: dict[tuple[str, str], Watermark] | None = None
    pending: list[dict] = field(default_factory=list)

    def read(self, source: str, table: str) -> Watermark | None:
        if self.marks is None:
            self.marks = _newest_marks(self.spark, self.config.table_path("ops", "watermarks"))
            # moves recorded before the first read (a full refresh reads no watermark) win
            for row in self.pending:
                self._apply(row)
        return self.marks.get((source, table))

    def record(self, row: dict) -> None:
        if self.marks is not None:
            self._apply(row)
        self.pending.append(row)

    def _apply(self, row: dict) -> None:
        self.marks[(row["source"], row["table_name"])] = Watermark(
            row["watermark_value"], row["watermark_key"], row["source_time"]
        )

    def flush(self) -> None:
        """Appends the queued moves in one commit (a no-op when nothing moved)."""
        if self.pending:
            append_rows(
                self.spark,
                self.config.table_path("ops", "watermarks"),
                WATERMARKS_SCHEMA,
                self.pending,
            )
            log.info("ops: %d watermark move(s) written in one commit", len(self.pending))
            self.pending = []


_BOOK: ContextVar[WatermarkBook | None] = ContextVar("watermark_book", default=None)


@contextmanager
def watermark_book(spark: SparkSession, config: Config) -> Iterator[WatermarkBook]:
    """``with watermark_book(spark, config):`` reads and writes the watermarks of the block
    through one :class:`WatermarkBook`, flushed on the way out (also when the block raises: the
    moves queued were made after their commits, by steps or tables that finished).

    Inside an open book (a job run as a step of ``aml run``) the block joins it: its moves are
    written with the rest of the run's, when the outer block ends."""
    active = _BOOK.get()
    if active is not None:
        yield active
        return
    book = WatermarkBook(spark, config)
    token = _BOOK.set(book)
    try:
        yield book
    finally:
        _BOOK.reset(token)
        book.flush()


def read_watermark(
    spark: SparkSession, config: Config, source: str, table: str
) -> Watermark | None:
    """The newest watermark of a source table, or None before its first successful load."""
    book = _BOOK.get()
    if book is not None:
        return book.read(source, table)
    return _newest_marks(spark, config.table_path("ops", "watermarks")).get((source, table))


def commit_watermark(
    spark: SparkSession,
    config: Config,
    source: str,
    table: str,
    mark: Watermark,
    run_id: str,
    bronze_version: int | None,
) -> None:
    """Moves the watermark; call only after the bronze commit that covers it (inside a
    :func:`watermark_book`, the move is queued and written when the book closes)."""
    row = {
        "source": source,
        "table_name": table,
        "watermark_value": mark.value,
        "watermark_key": mark.key,
        "source_time": mark.source_time,
        "run_id": run_id,
        "bronze_version": bronze_version,
        "updated_at": utcnow(),
    }
    book = _BOOK.get()
    if book is not None:
        book.record(row)
        return
    append_rows(spark, config.table_path("ops", "watermarks"), WATERMARKS_SCHEMA, [row])
