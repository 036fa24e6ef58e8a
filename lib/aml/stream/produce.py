"""``aml produce``: transactions onto ``aml.transactions.v1`` at a target rate.

Two sources of events: a generated dataset replayed in file order (the base
``transactions.csv`` with the ids the loader gives it, then each increment's new rows and
corrections), or live synthetic traffic (``--synthesize``: valid SAML-D rows stamped with the
current UTC time, ids from ``--first-id``). Messages follow :mod:`aml.stream.contract`, keyed
by the sender account so that one account's payments stay in order on one partition.

The producer is kafka-python's idempotent producer (``acks=all``, retries without duplicates),
and a rate limiter paces sends to ``--rate`` events per second; ``--rate 0`` sends as fast as
the broker takes them. A progress line goes to the log every few seconds, and the run ends with
``flush()``: every message acknowledged, or an error and a non-zero exit.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import logging
import random
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from aml.config import Config, ConfigError, load_config
from aml.stream.contract import encode
from aml.stream.kafka_settings import kafka_section, python_client_settings

log = logging.getLogger(__name__)
PROGRESS_EVERY_S = 2.0


@dataclass
class ProduceStats:
    sent: int = 0
    acked: int = 0
    failed: int = 0
    seconds: float = 0.0

    @property
    def rate(self) -> float:
        return self.sent / self.seconds if self.seconds else 0.0


def _csv_rows(path: Path, first_id: int | None) -> Iterator[dict[str, str]]:
    """Rows of a SAML-D ``transactions.csv`` (ids from ``first_id`` in file order) or of an
    ``updates.csv`` (which carries ``transaction_id`` itself), with lower-case field names."""
    with path.open(newline="", encoding="utf-8") as fh:
        reader = csv.reader(fh)
        header = [name.lower() for name in next(reader)]
        for offset, values in enumerate(reader):
            row = dict(zip(header, values, strict=True))
            if first_id is not None:
                row["transaction_id"] = str(first_id + offset)
            yield row


def dataset_rows(dataset: Path, increments: bool = True) -> Iterator[dict[str, str]]:
    """A generated dataset's transactions, as the loader numbers them, then its increments."""
    from aml.sources.csvfiles import first_id_from_manifest, read_manifest
    from aml.sources.loader import list_increments

    base = dataset / "transactions.csv"
    if not base.is_file():
        raise ConfigError(f"{dataset} has no transactions.csv (generate one with `aml generate`)")
    yield from _csv_rows(base, first_id_from_manifest(read_manifest(dataset), dataset) or 1)
    if not increments:
        return
    for name in list_increments(dataset):
        directory = dataset / "increments" / name
        if (directory / "transactions.csv").is_file():
            first = first_id_from_manifest(read_manifest(directory), directory)
            yield from _csv_rows(directory / "transactions.csv", first)
        if (directory / "updates.csv").is_file():
            yield from _csv_rows(directory / "updates.csv", None)


def synthetic_rows(first_id: int, seed: int | None = None) -> Iterator[dict[str, str]]:
    """Endless valid transactions stamped with the current UTC time (normal traffic only)."""
    from aml.generate import domains

    rng = random.Random(seed)
    accounts = [str(rng.randrange(10**9, 10**10)) for _ in range(50_000)]
    ptypes = [p for p in domains.PAYMENT_TYPES if p != "Cross-border"]
    for tx_id in range(first_id, 2**62):
        now = dt.datetime.now(dt.UTC)
        sender, receiver = rng.sample(accounts, 2)
        amount = round(rng.lognormvariate(8.5, 1.0), 2)
        yield {
            "transaction_id": str(tx_id),
            "time": now.strftime("%H:%M:%S"),
            "date": now.strftime("%Y-%m-%d"),
            "sender_account": sender,
            "receiver_account": receiver,
            "amount": f"{amount:.2f}",
            "payment_currency": "UK pounds",
            "received_currency": "UK pounds",
            "sender_bank_location": "UK",
            "receiver_bank_location": "UK",
            "payment_type": rng.choice(ptypes),
            "is_laundering": "0",
            "laundering_type": rng.choice(domains.NORMAL_TYPES),
        }


class RateLimiter:
    """Paces calls to ``rate`` per second (0: no pacing), sleeping in small steps."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.started = time.monotonic()
        self.count = 0

    def wait(self) -> None:
        self.count += 1
        if self.rate <= 0:
            return
        ahead = self.count / self.rate - (time.monotonic() - self.started)
        if ahead > 0.002:
            time.sleep(ahead)


def make_producer(config: Config, **overrides: object):
    """kafka-python's idempotent producer with the project's connection settings."""
    from kafka import KafkaProducer

    settings = {
        **python_client_settings(config),
        "acks": "all",
        "enable_idempotence": True,
        "linger_ms": 5,
        "batch_size": 256 * 1024,
        "max_in_flight_requests_per_connection": 5,
        **overrides,
    }
    return KafkaProducer(**settings)


def produce(
    config: Config,
    rows: Iterable[dict[str, str]],
    rate: float,
    limit: int | None = None,
    topic: str | None = None,
    seconds: float | None = None,
) -> ProduceStats:
    """Sends ``rows`` (at most ``limit``, for at most ``seconds``) to the transactions topic at
    ``rate`` per second."""
    topic = topic or str(kafka_section(config)["transactions_topic"])
    stats = ProduceStats()
    errors: list[BaseException] = []

    def on_error(exc: BaseException) -> None:
        stats.failed += 1
        if len(errors) < 5:
            errors.append(exc)

    def on_ack(_metadata: object) -> None:
        stats.acked += 1

    producer = make_producer(config)
    limiter = RateLimiter(rate)
    started = last = time.monotonic()
    try:
        for row in rows:
            if limit is not None and stats.sent >= limit:
                break
            limiter.wait()
            if seconds is not None and time.monotonic() - started >= seconds:
                break
            key = str(row["sender_account"]).encode("utf-8")
            future = producer.send(topic, key=key, value=encode(row))
            future.add_callback(on_ack).add_errback(on_error)
            stats.sent += 1
            now = time.monotonic()
            if now - last >= PROGRESS_EVERY_S:
                last = now
                log.info("produce: %s sent, %s acked, %.0f events/s", f"{stats.sent:,}",
                         f"{stats.acked:,}", stats.sent / (now - started))  # fmt: skip
        producer.flush()
    finally:
        producer.close()
        stats.seconds = time.monotonic() - started
    if stats.failed:
        raise RuntimeError(f"{stats.failed} events were not acknowledged, e.g. {errors[0]!r}")
    log.info("produce: %s events to %s in %.1fs (%.0f/s), all acknowledged",
             f"{stats.sent:,}", topic, stats.seconds, stats.rate)  # fmt: skip
    return stats


def execute(args: argparse.Namespace) -> int:
    config = load_config(args.env)
    if args.synthesize:
        first_id = args.first_id or int(time.time() * 1000)
        rows: Iterable[dict[str, str]] = synthetic_rows(first_id, args.seed)
        if args.limit is None and args.seconds is None:
            raise ConfigError("--synthesize runs forever: give --limit or --seconds")
    else:
        dataset = Path(args.dataset) if args.dataset else config.data_dir / "demo"
        rows = dataset_rows(dataset, increments=not args.no_increments)
    stats = produce(config, rows, args.rate, args.limit, args.topic, args.seconds)
    print(f"produced {stats.sent} events in {stats.seconds:.1f}s ({stats.rate:.0f}/s)")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("produce", help="send transactions to Kafka at a target rate")
    source = parser.add_mutually_exclusive_group()
    source.add_argument("--dataset", help="generated dataset to replay (default var/data/demo)")
    source.add_argument("--synthesize", action="store_true", help="live synthetic traffic")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s (0: unpaced)")
    parser.add_argument("--limit", type=int, default=None, help="stop after this many events")
    parser.add_argument("--seconds", type=float, default=None, help="stop after ~this long")
    parser.add_argument("--topic", default=None, help="default: [kafka].transactions_topic")
    parser.add_argument("--no-increments", action="store_true", help="replay the base file only")
    parser.add_argument("--first-id", type=int, default=None, help="first synthetic id")
    parser.add_argument("--seed", type=int, default=None, help="seed of synthetic traffic")
    parser.set_defaults(func=execute)
