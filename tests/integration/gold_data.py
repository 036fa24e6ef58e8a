"""A generated dataset taken through the real pipeline up to silver, for the gold tests.

Generate, load into PostgreSQL, ingest, build silver; then each :meth:`GoldLake.increment` adds
the generator's next day (new rows plus corrected earlier rows) the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from aml.config import Config
from aml.generate.generator import generate
from aml.generate.increment import generate_increment
from aml.ingest import job as ingest_job
from aml.silver import job as silver_job
from aml.sources import loader

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
        generate(dataset, rows=rows, seed=seed)
        loader.load(config, "postgres", dataset=dataset, truncate=True)
        lake = cls(spark, config, dataset)
        lake.refresh_silver()
        return lake

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
