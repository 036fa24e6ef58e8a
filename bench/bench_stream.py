"""Benchmark of the always-on streaming job: a sustained input rate, backlog and latency.

A private environment (own lake, own topics on the real broker) is created; the streaming job
starts as its own process (``aml stream``), and once it is up ``aml produce``'s producer sends
live synthetic transactions at ``--rate`` events per second for ``--seconds``. Every
``--sample`` seconds the backlog is sampled: events on the topic minus events the query has
committed (read from its checkpoint). At the end the job gets SIGTERM (it finishes its batch and
stops), and both topics are read back: each alert's latency is its Kafka timestamp minus the
Kafka timestamp of the newest event in its evidence that came before it.

Reported: the input rate held (events produced over the produce time), the rate the job
processed, the backlog over time, p50 / p95 / max event-to-alert latency, and per micro-batch
figures from ``ops.stream_progress``. Target on 2 cores: 2,500 events/s sustained, p95 <= 5 s.

Usage (services up: ``aml services up``)::

    .venv/bin/python bench/bench_stream.py [--rate 2500] [--seconds 300] [--out FILE]

Keys are ephemeral (generated for the run, never written). Writes ``var/bench/stream.json``
(or ``--out``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import threading
import time
from pathlib import Path

from cryptography.fernet import Fernet

from aml.config import PROJECT_ROOT, Config, load_config
from aml.stream.private import end_offsets, private_environment, start_stream
from aml.stream.produce import produce, synthetic_rows
from aml.stream.progress import percentile


def committed_offsets(checkpoint: Path, topic: str) -> int:
    """Events the query has committed: the offsets of its newest committed batch."""
    commits = [int(p.name) for p in (checkpoint / "commits").glob("[0-9]*")]
    if not commits:
        return 0
    lines = (checkpoint / "offsets" / str(max(commits))).read_text().splitlines()
    for line in lines[2:]:
        offsets = json.loads(line)
        if topic in offsets:
            return sum(int(v) for v in offsets[topic].values())
    return 0


def read_topic(config: Config, topic: str) -> list[tuple[int, bytes | None]]:
    """(Kafka timestamp ms, value) of every message of ``topic``."""
    from kafka import KafkaConsumer, TopicPartition

    from aml.stream.kafka_settings import python_client_settings

    consumer = KafkaConsumer(**python_client_settings(config), enable_auto_commit=False)
    try:
        ends = end_offsets(config, topic)
        parts = [TopicPartition(topic, p) for p in ends]
        consumer.assign(parts)
        consumer.seek_to_beginning(*parts)
        out: list[tuple[int, bytes | None]] = []
        while any(consumer.position(tp) < ends[tp.partition] for tp in parts):
            for records in consumer.poll(timeout_ms=1000, max_records=50_000).values():
                out.extend((r.timestamp, r.value) for r in records)
        return out
    finally:
        consumer.close()


def latencies(config: Config) -> list[int]:
    """Per alert message: its timestamp minus the newest earlier event in its evidence."""
    kafka = config.section("kafka")
    produced = {
        int(json.loads(value)["transaction_id"]): ts
        for ts, value in read_topic(config, str(kafka["transactions_topic"]))
    }
    out = []
    for ts, value in read_topic(config, str(kafka["alerts_topic"])):
        if value is None:
            continue
        before = [produced[i] for i in json.loads(value)["transaction_ids"] if i in produced]
        before = [t for t in before if t <= ts]
        if before:
            out.append(ts - max(before))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rate", type=float, default=2500.0)
    parser.add_argument("--seconds", type=float, default=300.0)
    parser.add_argument("--sample", type=float, default=10.0)
    parser.add_argument("--max-offsets", type=int, default=50_000)
    parser.add_argument("--trigger", default="1 second")
    parser.add_argument(
        "--out", type=Path, default=PROJECT_ROOT / "var" / "bench" / "stream.json", help="JSON file"
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("AML_FERNET_KEYS", Fernet.generate_key().decode())
    os.environ.setdefault("AML_TOKEN_KEY", Fernet.generate_key().decode())
    root = PROJECT_ROOT / "var" / "bench" / "stream"
    shutil.rmtree(root, ignore_errors=True)
    config, overrides = private_environment(
        load_config(), root, max_offsets_per_trigger=args.max_offsets, trigger=args.trigger
    )
    topic = str(config.section("kafka")["transactions_topic"])
    checkpoint = Path(config.checkpoint_root) / "stream_transactions"
    job = start_stream(overrides, root / "stream.log")
    while not (checkpoint / "metadata").is_file():  # the query is up
        if job.poll() is not None:
            raise SystemExit(f"the streaming job exited: see {root / 'stream.log'}")
        time.sleep(1)

    stats: dict = {}
    producer = threading.Thread(
        target=lambda: stats.update(
            vars(
                produce(config, synthetic_rows(10**12, seed=1), args.rate, None, None, args.seconds)
            )
        )
    )
    started = time.monotonic()
    producer.start()
    backlog = []
    while producer.is_alive() or time.monotonic() - started < args.seconds:
        time.sleep(args.sample)
        on_topic = sum(end_offsets(config, topic).values())
        done = committed_offsets(checkpoint, topic)
        backlog.append({"t": round(time.monotonic() - started), "produced": on_topic,
                        "processed": done, "backlog": on_topic - done})  # fmt: skip
        print(json.dumps(backlog[-1]), flush=True)
    producer.join()
    elapsed = time.monotonic() - started
    processed = committed_offsets(checkpoint, topic)
    job.send_signal(signal.SIGTERM)
    exit_code = job.wait(timeout=900)
    lat = latencies(config)
    result = {
        "target_rate": args.rate,
        "seconds": args.seconds,
        "produced": stats.get("sent"),
        "input_rate_held": round(stats["sent"] / stats["seconds"], 1),
        "processed_during_run": processed,
        "processing_rate": round(processed / elapsed, 1),
        "final_backlog": backlog[-1]["backlog"] if backlog else None,
        "alerts_with_latency": len(lat),
        "latency_ms": {
            "p50": percentile(lat, 0.5),
            "p95": percentile(lat, 0.95),
            "max": max(lat) if lat else None,
        },
        "stop_exit_code": exit_code,
        "backlog": backlog,
        "max_offsets_per_trigger": args.max_offsets,
    }
    out = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    lat_s = {k: (v / 1000 if v is not None else None) for k, v in result["latency_ms"].items()}
    print("\n| target ev/s | held ev/s | processed ev/s | final backlog | p50 s | p95 s | max s |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| {args.rate:,.0f} | {result['input_rate_held']:,.0f} | "
          f"{result['processing_rate']:,.0f} | {result['final_backlog']:,} | {lat_s['p50']} | "
          f"{lat_s['p95']} | {lat_s['max']} |")  # fmt: skip
    print(f"\nwritten to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
