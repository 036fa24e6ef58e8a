"""Chaos: 50,000 events produced while the streaming job is SIGKILLed five times at random
moments and restarted. Afterwards bronze has one row per Kafka offset, silver one row per
transaction id, and gold equals a batch evaluation of the same silver (same hits, same alerts).
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.integration.gold_data import comparable
from tests.integration.keys import ephemeral_keys
from tests.integration.stream_env import StreamEnv, make_stream_env

from aml.config import Config
from aml.generate.generator import generate
from aml.gold import rulepack
from aml.gold.backtest import run_pack
from aml.stream.produce import dataset_rows, produce

# about 15 minutes on two cores: run by `make test-chaos`, not by `make test`
pytestmark = [pytest.mark.slow, pytest.mark.chaos]

EVENTS = 50_000
KILLS = 5
SEED = 20261130


def _commits(path: Path) -> int:
    """Commits a Delta table (or a query checkpoint's commit log) has, 0 before it exists."""
    return len(list(path.glob("[0-9]*"))) if path.is_dir() else 0


def progress_state(env: StreamEnv) -> tuple[int, ...]:
    """How far the job had come: query batches committed, and commits of bronze, silver and
    the gold alerts (a kill between any two of these is a different point of the pipeline)."""
    lake = Path(env.config.lake_root)
    checkpoint = Path(env.config.checkpoint_root) / "stream_transactions"
    return (
        _commits(checkpoint / "commits"),
        *[
            _commits(lake / layer / table / "_delta_log") // 2  # .json + .crc per commit
            for layer, table in (
                ("bronze", "transaction_events"),
                ("silver", "transactions"),
                ("gold", "alerts"),
            )
        ],
    )


def _started_queries(log_file: Path) -> int:
    return log_file.read_text(errors="replace").count("stream: query") if log_file.exists() else 0


@pytest.fixture(scope="module")
def chaos(spark, services: Config, tmp_path_factory) -> Iterator[tuple[StreamEnv, list]]:
    root = tmp_path_factory.mktemp("chaos")
    with ephemeral_keys():
        env = make_stream_env(services, root, max_offsets_per_trigger=4000, trigger="1 second")
        generate(root / "dataset", rows=EVENTS, seed=SEED % 1000)
        rows = list(dataset_rows(root / "dataset", increments=False))[:EVENTS]
        producer = threading.Thread(target=produce, args=(env.config, rows, 400.0), daemon=True)
        producer.start()
        rng = random.Random(SEED)
        log_file = root / "stream.log"
        kills = []
        for n in range(KILLS):
            process = env.start_stream(log_file)
            deadline = time.monotonic() + 300
            while _started_queries(log_file) <= n and time.monotonic() < deadline:
                assert process.poll() is None, f"the stream died by itself: see {log_file}"
                time.sleep(0.5)
            moment = rng.uniform(5.0, 110.0)  # a micro-batch takes about a minute here
            time.sleep(moment)
            assert process.poll() is None, f"the stream died by itself: see {log_file}"
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
            kills.append((round(moment, 1), progress_state(env)))
        producer.join(timeout=600)
        assert not producer.is_alive()
        final = env.start_stream(log_file, "--available-now", "--max-offsets", "25000")
        assert final.wait(timeout=1800) == 0, f"the catch-up run failed: see {log_file}"
        print(f"kills (seconds after the query started, state): {kills}")
        yield env, kills


def _table(spark, env: StreamEnv, layer: str, name: str):
    return spark.read.format("delta").load(env.config.table_path(layer, name))


def test_kills_landed_at_different_points_of_the_pipeline(chaos) -> None:
    _, kills = chaos
    assert len(kills) == KILLS
    assert len({state for _, state in kills}) >= 3, kills


def test_bronze_has_exactly_one_row_per_offset(spark, chaos) -> None:
    env, _ = chaos
    bronze_df = _table(spark, env, "bronze", "transaction_events")
    assert sum(env.end_offsets().values()) == EVENTS
    assert bronze_df.count() == EVENTS
    assert bronze_df.select("partition", "offset").distinct().count() == EVENTS


def test_silver_has_exactly_one_row_per_transaction(spark, chaos) -> None:
    env, _ = chaos
    silver_df = _table(spark, env, "silver", "transactions")
    assert silver_df.count() == EVENTS
    assert silver_df.select("transaction_id").distinct().count() == EVENTS
    assert _table(spark, env, "quarantine", "transactions").count() == 0


def test_gold_equals_a_batch_evaluation_of_the_same_silver(spark, chaos) -> None:
    env, _ = chaos
    silver_df = _table(spark, env, "silver", "transactions").persist()
    pack = rulepack.load(env.config)
    # the gold job's own full evaluation of the environment's pack (v1 or scored v2)
    batch_hits, batch_alerts = run_pack(spark, env.config, silver_df, pack, 0)
    streamed_hits = _table(spark, env, "gold", "suspicious_transactions")
    streamed_alerts = _table(spark, env, "gold", "alerts")
    assert streamed_hits.count() > 0
    assert comparable(streamed_hits) == comparable(batch_hits)
    assert comparable(streamed_alerts) == comparable(batch_alerts)
    silver_df.unpersist()
