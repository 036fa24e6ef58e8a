"""The ``ops`` tables: what ran, when, on which data, and how far each source has been read.

``ops.job_runs`` gets one row per run, inserted as RUNNING when the run starts and completed at
the end (SUCCEEDED/FAILED with counts and table versions), so a killed run stays visible as
RUNNING. ``ops.watermarks`` holds one row per (source, table). Both are small Delta tables updated
by MERGE on their keys, so writes are idempotent.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from aml.config import Config

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)

JOB_RUNS_SCHEMA = (
    "run_id STRING NOT NULL, job STRING NOT NULL, args STRING, status STRING NOT NULL, "
    "started_at TIMESTAMP NOT NULL, ended_at TIMESTAMP, rows_read BIGINT, rows_written BIGINT, "
    "rows_quarantined BIGINT, table_versions MAP<STRING, BIGINT>, error STRING"
)
WATERMARKS_SCHEMA = (
    "source STRING NOT NULL, table_name STRING NOT NULL, watermark_value STRING NOT NULL, "
    "watermark_key BIGINT, run_id STRING NOT NULL, bronze_version BIGINT, "
    "updated_at TIMESTAMP NOT NULL"
)


def ensure_table(spark: SparkSession, path: str, schema: str) -> None:
    """Creates an empty Delta table at ``path`` with ``schema`` if none exists there."""
    from delta.tables import DeltaTable

    if not DeltaTable.isDeltaTable(spark, path):
        spark.createDataFrame([], schema).write.format("delta").mode("ignore").save(path)


def _merge_rows(spark: SparkSession, path: str, schema: str, rows: list[dict], keys: list[str]) -> None:
    from delta.tables import DeltaTable

    ensure_table(spark, path, schema)
    src = spark.createDataFrame(rows, schema)
    cond = " AND ".join(f"t.{k} = s.{k}" for k in keys)
    (
        DeltaTable.forPath(spark, path).alias("t")
        .merge(src.alias("s"), cond)
        .whenMatchedUpdateAll()
        .whenNotMatchedInsertAll()
        .execute()
    )


def utcnow() -> datetime:
    """Naive UTC now (Spark's session time zone is UTC, so naive values mean UTC)."""
    return datetime.now(UTC).replace(tzinfo=None)


@dataclass
class JobRun:
    """One run of a job, recorded in ``ops.job_runs``.

    Use as ``run = JobRun.start(spark, config, "ingest", args)`` then ``run.succeed(...)`` or
    ``run.fail(exc)``.
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

    @property
    def path(self) -> str:
        return self.config.table_path("ops", "job_runs")

    @classmethod
    def start(cls, spark: SparkSession, config: Config, job: str, args: Mapping[str, Any]) -> JobRun:
        run = cls(spark=spark, config=config, job=job, args=dict(args))
        run._write("RUNNING", None, None)
        log.info("run %s of %s started", run.run_id, job)
        return run

    def _write(self, status: str, ended_at: datetime | None, error: str | None) -> None:
        row = {
            "run_id": self.run_id, "job": self.job,
            "args": json.dumps(self.args, sort_keys=True, default=str), "status": status,
            "started_at": self.started_at, "ended_at": ended_at, "rows_read": self.rows_read,
            "rows_written": self.rows_written, "rows_quarantined": self.rows_quarantined,
            "table_versions": self.table_versions or None, "error": error,
        }
        _merge_rows(self.spark, self.path, JOB_RUNS_SCHEMA, [row], ["run_id"])

    def succeed(self) -> None:
        self._write("SUCCEEDED", utcnow(), None)
        log.info("run %s of %s succeeded: read %d, wrote %d", self.run_id, self.job,
                 self.rows_read, self.rows_written)

    def fail(self, exc: BaseException) -> None:
        # The message is the exception's own text: callers raise errors that carry no secrets.
        self._write("FAILED", utcnow(), f"{type(exc).__name__}: {exc}"[:2000])


@dataclass(frozen=True)
class Watermark:
    """How far a source table has been ingested: ``(updated_at, primary key)`` of the last run."""

    value: str
    key: int | None


def read_watermark(spark: SparkSession, config: Config, source: str, table: str) -> Watermark | None:
    path = config.table_path("ops", "watermarks")
    ensure_table(spark, path, WATERMARKS_SCHEMA)
    rows = (
        spark.read.format("delta").load(path)
        .where(f"source = '{source}' AND table_name = '{table}'")
        .select("watermark_value", "watermark_key")
        .collect()
    )
    return Watermark(rows[0].watermark_value, rows[0].watermark_key) if rows else None


def commit_watermark(
    spark: SparkSession, config: Config, source: str, table: str, mark: Watermark | None,
    run_id: str, bronze_version: int | None,
) -> None:
    """Moves (or, with ``mark=None``, clears) the watermark; call only after the bronze commit."""
    path = config.table_path("ops", "watermarks")
    if mark is None:
        from delta.tables import DeltaTable

        ensure_table(spark, path, WATERMARKS_SCHEMA)
        DeltaTable.forPath(spark, path).delete(f"source = '{source}' AND table_name = '{table}'")
        return
    row = {
        "source": source, "table_name": table, "watermark_value": mark.value,
        "watermark_key": mark.key, "run_id": run_id, "bronze_version": bronze_version,
        "updated_at": utcnow(),
    }
    _merge_rows(spark, path, WATERMARKS_SCHEMA, [row], ["source", "table_name"])
