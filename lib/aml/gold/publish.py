"""Staging and publishing gold: write the changes aside, validate them, then apply them.

Gold is never written directly. A run writes its keyed changes to ``staging.gold_*`` Delta
tables (overwritten each run, kept afterwards for inspection), the gate validates what is staged,
and only then one MERGE per table (or, on a full rebuild, one overwrite) applies them. A failed
gate leaves the published tables at their last good version.

Merges are keyed (``hit_id``, ``alert_id``) and carry their own deletes, so applying the same
staged changes twice gives the same tables: a run killed between the two publishes is finished
by its rerun. An alert's ``status`` is not overwritten on update: case handling owns it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aml import delta_io
from aml.config import Config
from aml.gold.changes import DELETE, GoldChanges

TABLES = {"suspicious_transactions": "hit_id", "alerts": "alert_id"}
NOT_UPDATED = {"alerts": ("status",)}


@dataclass(frozen=True)
class Staged:
    """The staged changes, read back from the staging tables."""

    hits_df: DataFrame
    alerts_df: DataFrame
    is_full: bool

    def upserts(self, table: str) -> DataFrame:
        df = self.hits_df if table == "suspicious_transactions" else self.alerts_df
        return df.where(~F.col(DELETE)).drop(DELETE)


def staging_path(config: Config, table: str) -> str:
    return config.table_path("staging", f"gold_{table}")


def stage(spark: SparkSession, config: Config, changes: GoldChanges) -> Staged:
    """Writes the changes to the staging tables and returns them as read back."""
    for table, df in (("suspicious_transactions", changes.hits_df), ("alerts", changes.alerts_df)):
        (
            df.write.format("delta")
            .mode("overwrite")
            .option("overwriteSchema", "true")
            .save(staging_path(config, table))
        )
    return Staged(
        hits_df=spark.read.format("delta").load(staging_path(config, "suspicious_transactions")),
        alerts_df=spark.read.format("delta").load(staging_path(config, "alerts")),
        is_full=changes.is_full,
    )


def published(spark: SparkSession, config: Config, table: str) -> DataFrame | None:
    path = config.table_path("gold", table)
    return spark.read.format("delta").load(path) if delta_io.exists(spark, path) else None


def _merge(spark: SparkSession, path: str, staged_df: DataFrame, key: str, table: str) -> None:
    from delta.tables import DeltaTable

    columns = [c for c in staged_df.columns if c != DELETE]
    inserts = {c: f"s.`{c}`" for c in columns}
    updates = {c: v for c, v in inserts.items() if c not in NOT_UPDATED.get(table, ())}
    (
        DeltaTable.forPath(spark, path)
        .alias("t")
        .merge(staged_df.alias("s"), f"t.`{key}` = s.`{key}`")
        .whenMatchedDelete(condition=f"s.{DELETE}")
        .whenMatchedUpdate(set=updates)
        .whenNotMatchedInsert(condition=f"NOT s.{DELETE}", values=inserts)
        .execute()
    )


def publish(spark: SparkSession, config: Config, staged: Staged) -> dict[str, int]:
    """Applies the staged changes to gold; returns the new version of each table."""
    versions = {}
    for table, key in TABLES.items():
        path = config.table_path("gold", table)
        staged_df = staged.hits_df if table == "suspicious_transactions" else staged.alerts_df
        if staged.is_full or not delta_io.exists(spark, path):
            (
                staged.upserts(table)
                .write.format("delta")
                .mode("overwrite")
                .option("overwriteSchema", "true")
                .save(path)
            )
        else:
            _merge(spark, path, staged_df, key, table)
        versions[f"gold.{table}"] = delta_io.current_version(spark, path)
    return versions
