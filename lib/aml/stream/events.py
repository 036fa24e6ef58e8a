"""``bronze.transaction_events``: the Kafka messages as they came, one row per offset.

Bronze never loses a message: the value is kept as raw bytes beside its topic, partition,
offset and Kafka timestamp, whatever it holds. Each micro-batch is appended with Delta's
idempotent-write options (``txnAppId`` = the query's id, ``txnVersion`` = the batch id), so a
batch replayed after a crash is skipped by Delta itself. A query started without a checkpoint
resumes after the offsets bronze already holds (:func:`starting_offsets`), so even a lost
checkpoint does not write an offset twice.

:func:`to_raw` is the silver side: the events of bronze's change feed become the silver input
contract (:mod:`aml.stream.contract`), keyed by offset for the quarantine.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aml import delta_io
from aml.config import Config
from aml.silver.transactions import EVENT_KEY, RAW_RECORD
from aml.stream.contract import with_envelope

TABLE = "transaction_events"
KAFKA_COLUMNS = ("topic", "partition", "offset", "kafka_timestamp", "key", "value")
DEFAULT_MAX_MESSAGE_BYTES = 16 * 1024


def from_kafka(batch_df: DataFrame, batch_id: int, ingested_at: object) -> DataFrame:
    """A Kafka source micro-batch as bronze rows."""
    return batch_df.select(
        "topic",
        "partition",
        "offset",
        F.col("timestamp").alias("kafka_timestamp"),
        "key",
        "value",
        F.lit(ingested_at).cast("timestamp").alias("_ingested_at"),
        F.lit(batch_id).cast("long").alias("_batch_id"),
    )


def append(events_df: DataFrame, path: str, app_id: str, batch_id: int) -> None:
    """Appends a micro-batch once: Delta skips a (``app_id``, ``batch_id``) it has committed."""
    (
        events_df.write.format("delta")
        .mode("append")
        .option("txnAppId", app_id)
        .option("txnVersion", batch_id)
        .save(path)
    )


def starting_offsets(spark: SparkSession, path: str, topic: str) -> str | None:
    """Kafka ``startingOffsets`` JSON just after what bronze holds of ``topic`` (None: nothing).

    Partitions bronze has never seen start from the earliest offset.
    """
    if not delta_io.exists(spark, path):
        return None
    rows = (
        spark.read.format("delta")
        .load(path)
        .where(F.col("topic") == topic)
        .groupBy("partition")
        .agg(F.max("offset").alias("last"))
        .collect()
    )
    if not rows:
        return None
    return json.dumps({topic: {str(r["partition"]): int(r["last"]) + 1 for r in rows}})


def raw_builder(max_message_bytes: int) -> Callable[[DataFrame], DataFrame]:
    """Bronze event rows -> the silver input contract (see :func:`to_raw`)."""
    return lambda events_df: to_raw(events_df, max_message_bytes)


def event_ref() -> F.Column:
    """``topic/partition/offset``: where a message sits, its identity in silver lineage."""
    return F.concat_ws(
        "/", "topic", F.col("partition").cast("string"), F.col("offset").cast("string")
    )


def raw_text(value: F.Column, is_oversize: F.Column) -> F.Column:
    """The message as text for the quarantined record: UTF-8 as it is, other bytes as
    ``base64:...`` (never an invalid string), nothing for an oversize message (bronze has it)."""
    text = value.cast("string")
    readable = F.when(F.is_valid_utf8(text), text).otherwise(
        F.concat(F.lit("base64:"), F.base64(value))
    )
    return F.when(~is_oversize & value.isNotNull(), readable)


def to_raw(events_df: DataFrame, max_message_bytes: int) -> DataFrame:
    """Events as silver input: text fields from the JSON, ``updated_at`` = the Kafka timestamp
    (a later message about the same id wins), the offset as ``_source_ref`` and as the
    quarantine key of a message without a usable id, the raw text as the quarantined record."""
    ref = event_ref()
    return with_envelope(events_df, max_message_bytes).withColumns(
        {
            "updated_at": F.col("kafka_timestamp"),
            "_source": F.concat(F.lit("kafka:"), F.col("topic")),
            "_source_ref": ref,
            EVENT_KEY: F.concat(F.lit("kafka:"), ref),
            RAW_RECORD: raw_text(F.col("value"), F.col("is_oversize_message")),
        }
    )


def bronze_path(config: Config) -> str:
    return config.table_path("bronze", TABLE)
