"""A private lake and private topics on the real broker, for the streaming tests.

Each environment gets its own transactions and alerts topics (created on the running broker),
its own lake and checkpoints, and an overrides file so that a streaming job run as a subprocess
sees exactly what the test sees.
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass
from pathlib import Path

from aml.config import Config
from aml.stream.private import end_offsets, private_environment, start_stream


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
        return end_offsets(self.config, topic or self.topic)

    def start_stream(self, log_file: Path, *args: str) -> subprocess.Popen:
        """``aml stream`` as a separate process (its own JVM), output to ``log_file``."""
        return start_stream(self.overrides, log_file, *args)


def make_stream_env(base: Config, root: Path, **stream: int | str) -> StreamEnv:
    """A lake under ``root`` and two new topics on ``base``'s broker; ``[stream]`` overrides."""
    config, overrides = private_environment(base, root, **stream)
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
