"""A private environment for one streaming run: own lake, checkpoints and topics.

Tests and benchmarks stream into topics nobody else uses, on the real broker, without touching
the user's lake. The overrides file lets a streaming job started as a subprocess
(``AML_OVERRIDES``) see the same environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

from aml.config import PROJECT_ROOT, Config
from aml.services.kafka import KafkaService
from aml.stream.kafka_settings import python_client_settings


def private_environment(base: Config, root: Path, **stream: int | str) -> tuple[Config, Path]:
    """(config, overrides file): ``base`` with a lake under ``root``, two new topics created on
    its broker, and ``[stream]`` settings overridden (integers and strings). The file holds the
    whole environment, so a subprocess reaches the same services as ``base``."""
    tag = uuid.uuid4().hex[:8]
    config = (
        base.with_lake(root / "lake", root / "checkpoints")
        .with_settings(
            "kafka",
            transactions_topic=f"private.transactions.{tag}",
            alerts_topic=f"private.alerts.{tag}",
        )
        .with_settings(
            "stream", **{k: v if isinstance(v, str) else int(v) for k, v in stream.items()}
        )
    )
    overrides = config.write_overrides(root / "overrides.toml")
    KafkaService(config).ensure_topics()
    return config, overrides


def start_stream(overrides: Path, log_file: Path, *args: str) -> subprocess.Popen:
    """``aml stream`` in a process of its own (its own JVM) on the environment of
    ``overrides``, in a new session (so a test can kill the whole group), output to
    ``log_file``."""
    env = {
        **os.environ,
        "AML_OVERRIDES": str(overrides),
        "PYTHONPATH": str(PROJECT_ROOT / "lib"),
        "PYTHONUNBUFFERED": "1",
    }
    with log_file.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "aml.cli", "stream", *args],
            cwd=PROJECT_ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def end_offsets(config: Config, topic: str) -> dict[int, int]:
    """partition -> end offset of ``topic`` (how many messages each partition ever received)."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(**python_client_settings(config))
    try:
        parts = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        return {tp.partition: offset for tp, offset in consumer.end_offsets(parts).items()}
    finally:
        consumer.close()
