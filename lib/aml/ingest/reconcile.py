"""Source versus bronze: row count and a checksum over every column.

Used by the crash tests and by operators (``aml reconcile``) to prove bronze equals the source
exactly. The checksum is the sum of a 64-bit hash of each row's source columns, computed by Spark
on both sides from the same JDBC types, so it is independent of row order.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from typing import TYPE_CHECKING

from aml.config import Config, load_config
from aml.ingest.bronze import META_COLUMNS
from aml.ingest.jdbc import Increment, read_increment
from aml.ingest.spec import TableSpec, select_tables
from aml.sources import db

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession


@dataclass(frozen=True)
class Reconciliation:
    table: str
    source_rows: int
    bronze_rows: int
    bronze_distinct_keys: int
    source_checksum: int
    bronze_checksum: int

    @property
    def equal(self) -> bool:
        return (
            self.source_rows == self.bronze_rows == self.bronze_distinct_keys
            and self.source_checksum == self.bronze_checksum
        )


def whole_table(config: Config, source: str, spec: TableSpec) -> Increment:
    """The whole source table as one "increment", with its real size and key range, so the read
    is split across partitions like an ingestion read."""
    table = f"{db.schema_name(config, source)}.{spec.source_table}"
    pk = spec.primary_key
    with db.connect(config, source, autocommit=True) as conn:
        cur = conn.cursor()
        cur.execute(f"SELECT COUNT(*), MIN({pk}), MAX({pk}) FROM {table}")
        rows, min_key, max_key = cur.fetchone()
    return Increment("1 = 1", int(rows), min_key, max_key, None)


def _summary(df: DataFrame, columns: list[str], key: str) -> tuple[int, int, int]:
    from pyspark.sql import functions as F

    row = df.agg(
        F.count(F.lit(1)).alias("n"),
        F.countDistinct(key).alias("keys"),
        F.coalesce(F.sum(F.xxhash64(*columns).cast("decimal(38,0)")), F.lit(0)).alias("sum"),
    ).first()
    return int(row.n), int(row.keys), int(row["sum"])


def reconcile(spark: SparkSession, config: Config, source: str, spec: TableSpec) -> Reconciliation:
    source_df = read_increment(spark, config, source, spec, whole_table(config, source, spec))
    columns = source_df.columns
    bronze_df = spark.read.format("delta").load(config.table_path("bronze", spec.name))
    bronze_df = bronze_df.where(bronze_df["_source"] == source)
    extra = [c for c in bronze_df.columns if c not in columns and c not in META_COLUMNS]
    if extra:
        raise ValueError(f"bronze.{spec.name} has columns the source lacks: {extra}")
    s_rows, _, s_sum = _summary(source_df, columns, spec.primary_key)
    b_rows, b_keys, b_sum = _summary(bronze_df.select(*columns), columns, spec.primary_key)
    return Reconciliation(spec.name, s_rows, b_rows, b_keys, s_sum, b_sum)


def _cmd_reconcile(args: argparse.Namespace) -> int:
    from aml.spark import build_session

    config = load_config(args.env)
    spark = build_session(config, "aml-reconcile")
    source = config.source(args.source)["name"]
    ok = True
    for spec in select_tables(config, args.tables):
        r = reconcile(spark, config, source, spec)
        ok &= r.equal
        checksums = "match" if r.source_checksum == r.bronze_checksum else "DIFFER"
        print(
            f"{r.table}: source {r.source_rows} rows, bronze {r.bronze_rows} rows "
            f"({r.bronze_distinct_keys} keys), checksums {checksums}"
        )
    return 0 if ok else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("reconcile", help="compare bronze with the source exactly")
    parser.add_argument("--table", action="append", dest="tables", metavar="NAME")
    parser.add_argument("--source", default=None)
    parser.set_defaults(func=_cmd_reconcile)
