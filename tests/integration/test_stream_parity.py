"""Parity: one dataset (a base and a daily increment with corrections) taken once through JDBC
batch (PostgreSQL, ingest, silver, gold) and once through Kafka and the streaming job gives the
same silver transactions and identical gold hits and alerts."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from pyspark.sql import functions as F
from tests.integration.gold_data import GoldLake, comparable
from tests.integration.keys import ephemeral_keys
from tests.integration.stream_env import StreamEnv, make_stream_env

from aml.config import Config
from aml.gold import job as gold_job
from aml.ingest import job as ingest_job
from aml.silver import job as silver_job
from aml.stream import job as stream_job
from aml.stream.produce import dataset_rows, produce


@pytest.fixture(scope="module")
def lakes(spark, services: Config, tmp_path_factory) -> Iterator[tuple[Config, StreamEnv]]:
    root = tmp_path_factory.mktemp("parity")
    with ephemeral_keys():
        batch = GoldLake.create(
            spark, services.with_lake(root / "batch"), root / "dataset", rows=8000, seed=21
        )
        batch.increment()
        gold_job.run(spark, batch.config)
        env = make_stream_env(services, root / "stream")
        # customers and accounts come from core banking by JDBC in both set-ups
        ingest_job.run(spark, env.config, ["customers", "accounts"], "postgres")
        silver_job.run(spark, env.config)
        produce(env.config, dataset_rows(root / "dataset"), rate=0)
        stream_job.run(spark, env.config, available_now=True)
        yield batch.config, env


def _table(spark, config: Config, layer: str, name: str):
    return spark.read.format("delta").load(config.table_path(layer, name))


def test_both_paths_build_the_same_silver_transactions(spark, lakes) -> None:
    batch, env = lakes
    columns = ["transaction_id", "event_ts", "amount", "sender_account_token", "payment_type"]
    jdbc_df = _table(spark, batch, "silver", "transactions").select(*columns)
    kafka_df = _table(spark, env.config, "silver", "transactions").select(*columns)
    assert jdbc_df.count() > 8000
    assert jdbc_df.exceptAll(kafka_df).count() == 0
    assert kafka_df.exceptAll(jdbc_df).count() == 0


def test_both_paths_give_identical_gold_hits(spark, lakes) -> None:
    batch, env = lakes
    jdbc_df = _table(spark, batch, "gold", "suspicious_transactions")
    kafka_df = _table(spark, env.config, "gold", "suspicious_transactions")
    assert jdbc_df.count() > 0
    assert comparable(kafka_df) == comparable(jdbc_df)


def test_both_paths_give_identical_alerts(spark, lakes) -> None:
    batch, env = lakes
    jdbc_df = _table(spark, batch, "gold", "alerts")
    kafka_df = _table(spark, env.config, "gold", "alerts")
    assert jdbc_df.where(F.col("effective_severity") != F.col("base_severity")).count() > 0
    assert comparable(kafka_df) == comparable(jdbc_df)
