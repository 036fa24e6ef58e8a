"""A generated dataset taken through the real pipeline up to silver, for the gold tests.

Generate, load into PostgreSQL, ingest, build silver; then each :meth:`GoldLake.increment` adds
the generator's next day (new rows plus corrected earlier rows) the same way.

Building one is the slow part, so a test module that needs several lakes of one dataset (one per
rule pack) builds it once, :meth:`GoldLake.snapshot` keeps the source tables as they are, and
:meth:`GoldLake.copy` gives each test a lake of its own: the folders copied and the source
tables put back to the snapshot, ``updated_at`` included, so the copy's watermarks still match
its source exactly.
"""

from __future__ import annotations

import shutil
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from tests.integration.keys import Keys

from aml.config import Config
from aml.generate.generator import generate
from aml.generate.increment import generate_increment
from aml.ingest import job as ingest_job
from aml.silver import job as silver_job
from aml.sources import db, loader

HIT_KEY = ("rule_id", "transaction_id", "subject_token")
LINEAGE = ("silver_version", "run_id", "evaluated_at", "status")


@dataclass
class GoldLake:
    spark: SparkSession
    config: Config
    dataset: Path

    @classmethod
    def create(
        cls, spark: SparkSession, config: Config, dataset: Path, rows: int, seed: int
    ) -> GoldLake:
        lake = cls.in_bronze(spark, config, dataset, rows, seed)
        silver_job.run(spark, config)
        return lake

    @classmethod
    def in_bronze(
        cls, spark: SparkSession, config: Config, dataset: Path, rows: int, seed: int
    ) -> GoldLake:
        """Generated, loaded into PostgreSQL and ingested: the lake up to bronze."""
        generate(dataset, rows=rows, seed=seed)
        loader.load(config, "postgres", dataset=dataset, truncate=True)
        ingest_job.run(spark, config, None, "postgres")
        return cls(spark, config, dataset)

    def snapshot(self) -> None:
        """Keeps a copy of the source tables, the loader's record of loaded files included
        (``<table>_snapshot``), for :meth:`copy`."""
        schema = db.schema_name(self.config, "postgres")
        with db.connect(self.config, "postgres") as conn:
            for table in db.SCHEMA_TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {schema}.{table}_snapshot")
                conn.execute(f"CREATE TABLE {schema}.{table}_snapshot AS TABLE {schema}.{table}")
            conn.commit()

    def copy(self, config: Config, dataset: Path) -> GoldLake:
        """This lake as of :meth:`snapshot`, under ``config``'s lake root, with its dataset
        folder copied to ``dataset`` and the source tables put back as they were."""
        shutil.copytree(self.config.lake_root, config.lake_root)
        shutil.copytree(self.dataset, dataset)
        schema = db.schema_name(config, "postgres")
        with db.connect(config, "postgres") as conn:
            conn.execute("TRUNCATE TABLE " + ", ".join(f"{schema}.{t}" for t in db.SCHEMA_TABLES))
            for table in db.SCHEMA_TABLES:
                # the insert trigger would stamp every row now: keep the snapshot's updated_at
                stamped = table in db.STAMPED_TABLES
                with db.stamps_kept(conn, schema, table) if stamped else nullcontext():
                    conn.execute(
                        f"INSERT INTO {schema}.{table} SELECT * FROM {schema}.{table}_snapshot"
                    )
            conn.commit()
        return GoldLake(self.spark, config, dataset)

    def drop_snapshot(self) -> None:
        schema = db.schema_name(self.config, "postgres")
        with db.connect(self.config, "postgres") as conn:
            for table in db.SCHEMA_TABLES:
                conn.execute(f"DROP TABLE IF EXISTS {schema}.{table}_snapshot")
            conn.commit()

    def refresh_silver(self) -> None:
        ingest_job.run(self.spark, self.config, None, "postgres")
        silver_job.run(self.spark, self.config)

    def increment(self, update_share: float = 0.02) -> None:
        generate_increment(self.dataset, update_share=update_share)
        name = loader.list_increments(self.dataset)[-1]
        loader.load(self.config, "postgres", dataset=self.dataset, increments=[name])
        self.refresh_silver()

    def table(self, layer: str, name: str) -> DataFrame:
        return self.spark.read.format("delta").load(self.config.table_path(layer, name))


@dataclass(frozen=True)
class SharedLake:
    """The session's lake: ``lake`` is the template (read it or copy it, never change it; its
    source tables are snapshotted for :meth:`GoldLake.copy`), ``keys`` the keys it was built
    with, ``build_output`` everything logged (at DEBUG) and printed while silver and gold were
    built from its bronze."""

    lake: GoldLake
    keys: Keys
    build_output: str


def comparable(df: DataFrame) -> list[tuple]:
    """A table's rows without lineage columns, sorted: what must match between two builds."""
    columns = sorted(c for c in df.columns if c not in LINEAGE)
    # sorted by repr: a scored pack's rows hold nulls (a hit below its week's threshold has no
    # alert id), which do not compare with strings
    return sorted(
        (tuple(tuple(v) if isinstance(v, list) else v for v in row)
         for row in df.select(*columns).collect()),
        key=repr,
    )  # fmt: skip
