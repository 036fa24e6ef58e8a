"""New and changed alerts onto ``aml.alerts.v1``: JSON, keyed by ``alert_id``.

The message is the published gold row without lineage-only columns: ids, rule, the subject's
token (never an account number), severities, counts, times, the evidence's transaction ids and
the narrative. An alert that a correction removed is sent as a tombstone (key, no value), so a
compacted topic converges to gold.alerts.

Delivery is at least once: the streaming job sends after gold is published and before it
records the silver version gold has consumed, so a crash in between resends the same alerts
(same key, same content). Consumers upsert by ``alert_id``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from aml.config import Config
from aml.gold.changes import DELETE
from aml.gold.publish import Staged
from aml.stream.kafka_settings import kafka_section

log = logging.getLogger(__name__)

MESSAGE_COLUMNS = (
    "alert_id", "rule_id", "rule_name", "rule_version", "param_hash", "subject_token",
    "subject_role", "alert_date", "base_severity", "effective_severity", "escalation_reason",
    "hit_count", "total_amount", "first_event_ts", "last_event_ts", "transaction_ids",
    "narrative", "status", "silver_version",
)  # fmt: skip
# a scored pack's alert also carries its score, breakdown and suspected typologies
SCORED_MESSAGE_COLUMNS = ("score", "score_breakdown", "typologies", "pack_version")


def messages(alerts_df: DataFrame) -> DataFrame:
    """Staged alert changes -> ``key``, ``value`` (NULL: a deleted alert), ``transaction_ids``."""
    scored = [c for c in SCORED_MESSAGE_COLUMNS if c in alerts_df.columns]
    body = F.to_json(
        F.struct(
            *[F.col(c) for c in MESSAGE_COLUMNS if c not in ("total_amount",)],
            F.col("total_amount").cast("string").alias("total_amount"),
            *[F.col(c) for c in scored],
        )
    )
    return alerts_df.select(
        F.col("alert_id").alias("key"),
        F.when(~F.col(DELETE), body).alias("value"),
        "transaction_ids",
    )


@dataclass
class AlertPublisher:
    """Sends each gold publish's alert changes to Kafka and remembers what the last one sent.

    Attributes:
        sent: alerts (upserts and tombstones) sent by the last call.
        sent_ids: ``transaction_ids`` of the upserted alerts of the last call (for latency).
    """

    config: Config
    producer_factory: Callable[[], object]
    sent: int = 0
    sent_ids: list[list[int]] = field(default_factory=list)
    _producer: object | None = None

    @property
    def topic(self) -> str:
        return str(kafka_section(self.config)["alerts_topic"])

    def __call__(self, staged: Staged) -> None:
        rows = messages(staged.alerts_df).collect()
        if self._producer is None:
            self._producer = self.producer_factory()
        futures = [
            self._producer.send(
                self.topic,
                key=row["key"].encode("utf-8"),
                value=row["value"].encode("utf-8") if row["value"] is not None else None,
            )
            for row in rows
        ]
        self._producer.flush()
        for future in futures:
            future.get(timeout=30)  # raises if the broker did not take it: the batch fails
        self.sent = len(rows)
        self.sent_ids = [list(r["transaction_ids"]) for r in rows if r["value"] is not None]
        log.info("alerts: %d changes sent to %s", len(rows), self.topic)

    def close(self) -> None:
        if self._producer is not None:
            self._producer.close()
            self._producer = None
