"""A private lake and private topics on the real broker, for the streaming tests.

Each environment gets its own transactions and alerts topics (created on the running broker),
its own lake and checkpoints, and an overrides file so that a streaming job run as a subprocess
sees exactly what the test sees.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from dataclasses import dataclass
from pathlib import Path

from aml.config import PROJECT_ROOT, Config, load_config
from aml.services.kafka import KafkaService
from aml.stream.kafka_settings import python_client_settings

KEY_VARIABLES = ("AML_FERNET_KEYS", "AML_TOKEN_KEY")


@dataclass(frozen=True)
class StreamEnv:
    config: Config
    overrides: Path
    root: Path

    @property
    def topic(self) -> str:
        return str(self.config.section("kafka")["transactions_topic"])

    @property
    def alerts_topic(self) -> str:
        return str(self.config.section("kafka")["alerts_topic"])

    @property
    def bootstrap(self) -> str:
        return str(self.config.section("kafka")["bootstrap_servers"])

    def end_offsets(self, topic: str | None = None) -> dict[int, int]:
        """partition -> end offset (the number of messages ever written to it)."""
        from kafka import KafkaConsumer, TopicPartition

        consumer = KafkaConsumer(**python_client_settings(self.config))
        try:
            name = topic or self.topic
            parts = [TopicPartition(name, p) for p in consumer.partitions_for_topic(name)]
            return {tp.partition: offset for tp, offset in consumer.end_offsets(parts).items()}
        finally:
            consumer.close()

    def subprocess_env(self) -> dict[str, str]:
        env = dict(os.environ)
        env["AML_OVERRIDES"] = str(self.overrides)
        env["PYTHONPATH"] = str(PROJECT_ROOT / "lib")
        env["PYTHONUNBUFFERED"] = "1"
        return env

    def start_stream(self, log_file: Path, *args: str) -> subprocess.Popen:
        """``aml stream`` as a separate process (its own JVM), output to ``log_file``."""
        command = [sys.executable, "-m", "aml.cli", "stream", *args]
        with log_file.open("ab") as out:
            return subprocess.Popen(
                command,
                cwd=PROJECT_ROOT,
                env=self.subprocess_env(),
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )


def make_stream_env(base: Config, root: Path, **stream: object) -> StreamEnv:
    """A lake under ``root`` and two new topics on ``base``'s broker; ``[stream]`` overrides."""
    tag = uuid.uuid4().hex[:8]
    lines = [
        "[lake]",
        f'root = "{root / "lake"}"',
        f'checkpoints = "{root / "checkpoints"}"',
        "[kafka]",
        f'transactions_topic = "test.transactions.{tag}"',
        f'alerts_topic = "test.alerts.{tag}"',
        "[stream]",
        *[f"{k} = {v!r}".replace("'", '"') for k, v in stream.items()],
    ]
    root.mkdir(parents=True, exist_ok=True)
    overrides = root / "overrides.toml"
    overrides.write_text("\n".join(lines) + "\n")
    config = load_config(base.name, overrides=overrides)
    KafkaService(config).ensure_topics()
    return StreamEnv(config, overrides, root)


def kcat(env: StreamEnv, *args: str, data: bytes | None = None, timeout: float = 60) -> bytes:
    """Runs Debian's ``kcat`` against the broker: an independent client for interop checks."""
    result = subprocess.run(
        ["kcat", "-b", env.bootstrap, *args],
        input=data,
        capture_output=True,
        timeout=timeout,
        check=True,
    )
    return result.stdout
