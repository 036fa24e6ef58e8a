"""The overview notebook's numbers: table counts and freshness per layer, alerts by day, rule
and severity.

Freshness is the time of a table's newest Delta commit (what a data engineer means by "when did
this last load"). Both it and the row count come from the Delta log (:mod:`aml.delta_log`: the
per-file ``numRecords`` statistics of the current snapshot), so the status of the whole lake
costs no Spark job; a remote lake, or a table with files lacking statistics, is counted by
Spark instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aml import delta_io
from aml.config import Config
from aml.notebooks.views import ALL_TABLES
from aml.ops import utcnow

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession


def table_status(spark: SparkSession, config: Config) -> pd.DataFrame:
    """One row per lake table: layer, table, exists, rows, version, last commit, hours since."""
    import pandas as pd

    now = utcnow()
    rows = []
    for layer, table in ALL_TABLES:
        path = config.table_path(layer, table)
        snap = delta_io.snapshot(spark, path)
        row = {"layer": layer, "table": table, "exists": snap is not None}
        if snap is not None:
            row |= {
                "rows": snap.rows,
                "version": snap.version,
                "last_commit_utc": snap.last_commit_utc.replace(microsecond=0),
                "hours_since_commit": round((now - snap.last_commit_utc).total_seconds() / 3600, 2),
            }
        rows.append(row)
    return pd.DataFrame(rows)


def freshness_by_layer(status_df: pd.DataFrame) -> pd.DataFrame:
    """Per layer: tables present, total rows and the newest commit."""
    present = status_df[status_df["exists"]]
    if present.empty:
        return present
    return (
        present.groupby("layer", sort=False)
        .agg(
            tables=("table", "count"),
            rows=("rows", "sum"),
            newest_commit_utc=("last_commit_utc", "max"),
            hours_since_newest=("hours_since_commit", "min"),
        )
        .reset_index()
    )


def alerts_by_day(spark: SparkSession) -> pd.DataFrame:
    """``alert_date, severity, alerts`` (effective severity) from the ``gold_alerts`` view."""
    return spark.sql(
        """SELECT alert_date, effective_severity AS severity, count(*) AS alerts
           FROM gold_alerts GROUP BY alert_date, effective_severity ORDER BY alert_date"""
    ).toPandas()


def alerts_by_rule(spark: SparkSession) -> pd.DataFrame:
    """``rule_id, rule_name, alerts, hits, total_amount`` from the ``gold_alerts`` view."""
    return spark.sql(
        """SELECT rule_id, rule_name, count(*) AS alerts, sum(hit_count) AS hits,
                  sum(total_amount) AS total_amount
           FROM gold_alerts GROUP BY rule_id, rule_name ORDER BY rule_id"""
    ).toPandas()


def alerts_by_severity(spark: SparkSession) -> pd.DataFrame:
    """``severity, alerts`` in ladder order, escalations counted where they landed."""
    return spark.sql(
        """SELECT effective_severity AS severity, count(*) AS alerts,
                  count_if(effective_severity <> base_severity) AS escalated
           FROM gold_alerts GROUP BY effective_severity
           ORDER BY array_position(array('LOW', 'MEDIUM', 'HIGH', 'CRITICAL'),
                                   effective_severity)"""
    ).toPandas()


def latest_alerts(spark: SparkSession, limit: int = 20) -> DataFrame:
    """The newest alerts with their narratives (token prefixes only, no personal data)."""
    return spark.sql(
        f"""SELECT alert_id, alert_date, rule_id, effective_severity, hit_count, total_amount,
                   narrative
            FROM gold_alerts ORDER BY last_event_ts DESC, alert_id LIMIT {int(limit)}"""
    )
