"""Temporary views over the lake's Delta paths, for the notebooks' ``%sql`` cells.

Tables are addressed by path (no metastore), so a notebook names them through session views
``<layer>_<table>`` (``silver_transactions``, ``gold_alerts``...). The views leave out every
encrypted column (``*_enc``): a ``SELECT *`` in a notebook can then never put a Fernet token on
screen, and the one path to clear values stays :mod:`aml.crypto.access`. Bronze holds the source
rows as they came (account numbers, names), so it gets no view at all: the overview counts its
rows by path and nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aml import delta_io
from aml.config import Config, load_config

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

VIEWED = (
    ("silver", "transactions"),
    ("silver", "accounts"),
    ("silver", "customers"),
    ("quarantine", "transactions"),
    ("gold", "suspicious_transactions"),
    ("gold", "alerts"),
    ("gold", "alert_cases"),
    ("gold", "account_profiles"),
    ("gold", "segment_profiles"),
    ("ops", "job_runs"),
    ("ops", "watermarks"),
    ("ops", "validation_results"),
    ("ops", "decrypt_audit"),
    ("ops", "stream_progress"),
)
COUNTED_ONLY = (("bronze", "transactions"), ("bronze", "accounts"), ("bronze", "customers"))
ALL_TABLES = COUNTED_ONLY + VIEWED


def view_name(layer: str, table: str) -> str:
    return f"{layer}_{table}"


def without_encrypted(df: DataFrame) -> DataFrame:
    """The DataFrame without its ``*_enc`` columns."""
    return df.drop(*[c for c in df.columns if c.endswith("_enc")])


def read_table(spark: SparkSession, config: Config, layer: str, table: str) -> DataFrame | None:
    """A lake table without encrypted columns, or None when it does not exist (yet)."""
    path = config.table_path(layer, table)
    if not delta_io.exists(spark, path):
        return None
    return without_encrypted(spark.read.format("delta").load(path))


def register(spark: SparkSession, config: Config) -> list[str]:
    """Registers a view per existing table of :data:`VIEWED`; returns the view names.

    ``gold_alert_cases`` is always registered (empty before the first status change), so the
    triage queries work on a lake where nobody has touched a case yet.
    """
    from aml.gold import cases

    names = []
    for layer, table in VIEWED:
        df = read_table(spark, config, layer, table)
        if df is None and (layer, table) == cases.TABLE:
            df = spark.createDataFrame([], cases.SCHEMA)
        if df is not None:
            df.createOrReplaceTempView(view_name(layer, table))
            names.append(view_name(layer, table))
    return names


def open_lake(spark: SparkSession, env: str = "", lake: str = "") -> Config:
    """The notebook's first call: the environment (``env`` or the default), optionally with its
    lake moved to ``lake``, and the views registered over it."""
    config = load_config(env or None)
    if lake:
        config = config.with_lake(lake)
    register(spark, config)
    return config
