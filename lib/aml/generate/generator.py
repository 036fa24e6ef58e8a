"""``generate()``: a complete SAML-D-compatible dataset folder from a seed.

Output (all deterministic for a seed; ``manifest.json`` holds no timestamps so reruns are
byte-identical): ``transactions.csv`` in the exact SAML-D format, ``customers.csv``,
``accounts.csv``, ``ground_truth.csv`` (injected suspicious instances by transaction id),
``hard_negatives.csv`` (near-miss normal patterns by rule) and ``manifest.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from aml.generate.daily import DayLoopResult, Progress, run_days, split_days
from aml.generate.domains import DAY, LAUNDERING_TYPES
from aml.generate.people import Owners, write_people
from aml.generate.plan import PlanBuilder, Window
from aml.generate.planner import plan_dataset
from aml.generate.population import (
    P_PLAN,
    Population,
    build_population,
    population_size,
    stream,
)
from aml.generate.writer import TransactionWriter, date_str, sha256, write_rows

log = logging.getLogger("aml.generate")

GENERATOR_VERSION = "1.0.0"
DEFAULT_START = dt.date(2022, 10, 7)
DEFAULT_RATE = 0.001
REAL_ROWS_PER_DAY = 29_600  # SAML-D: 9.5M rows over 321 days
MIN_DAYS, MAX_DAYS = 35, 321
MAX_PLANNED_SHARE = 0.5
GT_HEADER = ("instance_id", "laundering_type", "transaction_id")
HN_HEADER = ("instance_id", "rule_id", "transaction_id")
DATA_FILES = ("transactions.csv", "customers.csv", "accounts.csv")


def default_days(rows: int) -> int:
    """Days at SAML-D's daily volume, at least 35 (R07 needs 30 days of history) and at most 321."""
    return max(MIN_DAYS, min(MAX_DAYS, math.ceil(rows / REAL_ROWS_PER_DAY)))


def write_labels(directory: Path, result: DayLoopResult) -> None:
    """Writes ground_truth.csv and hard_negatives.csv ordered by instance, then transaction."""
    for name, header, entries in (
        ("ground_truth.csv", GT_HEADER, result.ground_truth),
        ("hard_negatives.csv", HN_HEADER, result.hard_negatives),
    ):
        ordered = sorted(entries, key=lambda r: (r[0], r[2]))
        write_rows(directory / name, header, [[r[i] for r in ordered] for i in range(3)])


def file_entries(directory: Path, names: list[str]) -> dict[str, dict[str, Any]]:
    entries = {}
    for name in names:
        path = directory / name
        with path.open("rb") as fh:
            lines = sum(block.count(b"\n") for block in iter(lambda: fh.read(1 << 22), b""))
        entries[name] = {"sha256": sha256(path), "bytes": path.stat().st_size, "rows": lines - 1}
    return entries


def label_counts(result: DayLoopResult) -> dict[str, int]:
    return {name: int(n) for name, n in zip(LAUNDERING_TYPES, result.type_counts, strict=True) if n}


def _check_target(out: Path, rows: int, laundering_rate: float) -> None:
    if rows <= 0 or not 0 <= laundering_rate < 0.2:
        raise ValueError("rows must be > 0 and laundering_rate in [0, 0.2)")
    if (out / "increments").is_dir() and any((out / "increments").iterdir()):
        raise ValueError(
            f"{out} has increments of an earlier dataset; remove {out / 'increments'} "
            "or choose another folder"
        )


def _plan(
    seed: int, rows: int, days: int, laundering_rate: float, pop: Population
) -> tuple[PlanBuilder, Counter[str]]:
    """Plans the injections; refuses a dataset too small to hide them in."""
    b = PlanBuilder(stream(seed, P_PLAN), next_account=pop.size, next_instance=1)
    instances = plan_dataset(b, rows, laundering_rate, Window(60, days * DAY - 60))
    if b.n_rows > MAX_PLANNED_SHARE * rows:
        raise ValueError(
            f"{rows} rows cannot hold the {b.n_rows} injected rows; "
            f"use at least {math.ceil(b.n_rows / MAX_PLANNED_SHARE)} rows"
        )
    log.info(
        "plan: %d instances, %d hard negatives, %d rows; population %d accounts",
        sum(instances.values()),
        len(b.negatives),
        b.n_rows,
        pop.size,
    )
    return b, instances


def _owners(pop: Population, b: PlanBuilder, start_date: dt.date) -> Owners:
    """Population accounts first, then the injected ones (one customer each)."""
    fresh = np.asarray(b.fresh_loc, dtype=np.int8)
    return Owners(
        first_account=0,
        loc=np.concatenate([pop.loc, fresh]),
        customer=np.concatenate([pop.customer, pop.n_customers + np.arange(fresh.size)]),
        is_mule=np.concatenate([np.zeros(pop.size, bool), b.mule_flags()]),
        opened_before=start_date,
    )


def generate(
    out_dir: str | Path,
    rows: int,
    seed: int = 42,
    start_date: dt.date = DEFAULT_START,
    laundering_rate: float = DEFAULT_RATE,
    days: int | None = None,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Generates a dataset folder and returns its manifest.

    Args:
        out_dir: folder to write (created; existing files of the same names are replaced).
        rows: exact number of rows in transactions.csv.
        seed: everything is a pure function of it (and the other arguments).
        start_date: first Date in the file.
        laundering_rate: target share of laundering rows; every typology still gets at least one
            instance, so small datasets end up above it.
        days: calendar days covered; default keeps SAML-D's ~29.6k rows a day (35-321 days).
        progress: optional callback ``(rows_done, rows_total)`` called after each day.

    Raises:
        ValueError: ``rows`` too small to hold the injected patterns, or bad arguments.
    """
    out = Path(out_dir)
    _check_target(out, rows, laundering_rate)
    days = days or default_days(rows)
    out.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    pop = build_population(seed, population_size(rows / days))
    b, instances = _plan(seed, rows, days, laundering_rate, pop)
    counts = split_days(rows - b.n_rows, 0, days, start_date.weekday())
    with TransactionWriter(out / "transactions.csv", seed, start_date) as writer:
        result = run_days(
            writer, pop, seed, b.rows(), counts, 0, 1, b.suspicious, b.negatives, progress
        )
    write_labels(out, result)
    n_customers, n_accounts = write_people(out, seed, 0, _owners(pop, b, start_date), start_date)
    manifest = {
        "generator": "aml.generate",
        "generator_version": GENERATOR_VERSION,
        "format": "SAML-D",
        "seed": seed,
        "rows": rows,
        "days": days,
        "laundering_rate": laundering_rate,
        "start_date": start_date.isoformat(),
        "end_date": date_str(start_date, days - 1),
        "first_transaction_id": result.first_id,
        "last_transaction_id": result.last_id,
        "population_accounts": pop.size,
        "next_account_index": b.next_account,
        "next_customer_index": n_customers,
        "next_instance_id": b.next_instance,
        "accounts": n_accounts,
        "customers": n_customers,
        "laundering_type_counts": label_counts(result),
        "laundering_rows": len(result.ground_truth),
        "instances": dict(sorted(instances.items())),
        "hard_negatives": dict(sorted(Counter(b.negatives.values()).items())),
        "files": file_entries(out, [*DATA_FILES, "ground_truth.csv", "hard_negatives.csv"]),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    elapsed = time.monotonic() - started
    log.info(
        "wrote %s rows to %s in %.1f s (%s rows/s)",
        f"{rows:,}",
        out,
        elapsed,
        f"{rows / max(elapsed, 1e-9):,.0f}",
    )
    return manifest
