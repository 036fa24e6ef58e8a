"""Pipeline health: job runs, watermarks, stream progress and validation results over time.

Reads the ``ops`` tables only. ``ops.stream_progress`` belongs to the streaming job and may not
exist (no stream has run, or an older deployment): every function here answers ``None`` for a
missing table, and the notebook says "no ... recorded" instead of failing. Stream progress is
read by column *role* (a time column, row-count columns) rather than a fixed schema, so the
notebook keeps working while that table's shape settles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aml import delta_io
from aml.config import Config
from aml.ops import latest_runs

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import SparkSession

TIME_COLUMNS = ("timestamp", "started_at", "batch_timestamp", "recorded_at", "updated_at", "at")


def _read(spark: SparkSession, config: Config, table: str):
    path = config.table_path("ops", table)
    return spark.read.format("delta").load(path) if delta_io.exists(spark, path) else None


def job_runs(spark: SparkSession, config: Config) -> pd.DataFrame | None:
    """One row per run (its final state), oldest first, with its duration in seconds."""
    if _read(spark, config, "job_runs") is None:
        return None
    return (
        latest_runs(spark, config)
        .selectExpr(
            "job",
            "status",
            "started_at",
            "ended_at",
            "unix_seconds(ended_at) - unix_seconds(started_at) AS duration_s",
            "rows_read",
            "rows_written",
            "rows_quarantined",
            "error",
        )  # fmt: skip
        .orderBy("started_at")
        .toPandas()
    )


def run_summary(runs: pd.DataFrame) -> pd.DataFrame:
    """Per job: runs by status, the last run's start and status."""
    last = runs.sort_values("started_at").groupby("job").tail(1).set_index("job")
    counts = runs.pivot_table(index="job", columns="status", values="started_at", aggfunc="count")
    summary = counts.fillna(0).astype(int)
    summary["last_started_at"] = last["started_at"]
    summary["last_status"] = last["status"]
    return summary.reset_index()


def watermarks(spark: SparkSession, config: Config) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(current watermark per source table, every move oldest first), or None."""
    marks_df = _read(spark, config, "watermarks")
    if marks_df is None:
        return None
    history = (
        marks_df.select(
            "source", "table_name", "watermark_value", "bronze_version", "run_id", "updated_at"
        )
        .orderBy("updated_at")
        .toPandas()
    )
    history["series"] = history["source"] + " -> " + history["table_name"]
    history["moves"] = history.groupby("series").cumcount() + 1
    current = history.groupby("series").tail(1).drop(columns=["moves"])
    return current.reset_index(drop=True), history


def validation_results(spark: SparkSession, config: Config) -> pd.DataFrame | None:
    """Per suite and run: success, expectations evaluated and failed, oldest first."""
    results_df = _read(spark, config, "validation_results")
    if results_df is None:
        return None
    return (
        results_df.selectExpr(
            "validated_at",
            "job",
            "suite",
            "success",
            "evaluated",
            "size(coalesce(failed_expectations, array())) AS failed",
            "run_id",
        )  # fmt: skip
        .orderBy("validated_at")
        .toPandas()
    )


def validation_summary(results: pd.DataFrame) -> pd.DataFrame:
    """Per suite: validations, failed ones, and the newest one's time and outcome."""
    last = results.sort_values("validated_at").groupby("suite").tail(1).set_index("suite")
    summary = results.groupby("suite").agg(
        validations=("run_id", "count"), failed=("success", lambda s: int((~s.astype(bool)).sum()))
    )
    summary["last_validated_at"] = last["validated_at"]
    summary["last_success"] = last["success"]
    return summary.reset_index()


def stream_progress(
    spark: SparkSession, config: Config
) -> tuple[pd.DataFrame, pd.DataFrame] | None:
    """(the newest 500 progress rows, their row counts per batch in long form ``time, metric,
    rows``), or None when no stream has recorded progress."""
    progress_df = _read(spark, config, "stream_progress")
    if progress_df is None:
        return None
    time_col = next((c for c in TIME_COLUMNS if c in progress_df.columns), None)
    numeric = {"bigint", "int", "double", "float", "smallint"}
    counts = [
        name
        for name, kind in progress_df.dtypes
        if kind in numeric and name.lower().endswith("rows") and name != time_col
    ]
    if time_col:
        progress_df = progress_df.orderBy(progress_df[time_col].desc()).limit(500)
    import pandas as pd

    table = progress_df.toPandas()
    if not time_col or not counts:
        return table, pd.DataFrame(columns=["time", "metric", "rows"])
    table = table.sort_values(time_col)
    long = pd.concat(  # built by hand: melt refuses a count column that is itself "rows"
        pd.DataFrame({"time": table[time_col], "metric": name, "rows": table[name]})
        for name in counts
    )
    return table, long
