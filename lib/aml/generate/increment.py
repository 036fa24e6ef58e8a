"""``generate_increment()``: the next day of an existing dataset, as a core system would send it.

An increment is ``increments/NNNN/`` with the next calendar day's ``transactions.csv`` (ids
continuing from the previous last id), new injected instances in ``ground_truth.csv`` and
``hard_negatives.csv``, ``updates.csv`` with corrected earlier rows, the accounts and customers
opened for the new instances (``accounts.csv``, ``customers.csv``; normal traffic re-uses the
dataset's population, rebuilt bit-identically from the base seed) and ``manifest.json``.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.csv as pacsv

from aml.generate.daily import Progress, run_days, split_days
from aml.generate.domains import DAY, HEADER
from aml.generate.generator import GENERATOR_VERSION, file_entries, label_counts, write_labels
from aml.generate.people import Owners, write_people
from aml.generate.plan import PlanBuilder, Window
from aml.generate.planner import plan_day
from aml.generate.population import (
    P_INCREMENT,
    P_UPDATES,
    account_numbers,
    build_population,
    stream,
)
from aml.generate.updates import build_updates
from aml.generate.writer import TransactionWriter

log = logging.getLogger("aml.generate")
DEFAULT_UPDATE_SHARE = 0.001  # 0.1 % of earlier ids corrected per daily increment
INCREMENT_FILES = (
    "transactions.csv",
    "ground_truth.csv",
    "hard_negatives.csv",
    "updates.csv",
    "customers.csv",
    "accounts.csv",
)


class DatasetError(ValueError):
    """The folder is not a generated dataset (no or unreadable manifest.json)."""


def _read_manifest(path: Path) -> dict[str, Any]:
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except FileNotFoundError as exc:
        raise DatasetError(f"{path} not found: not a generated dataset folder") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def increment_dirs(dataset: Path) -> list[Path]:
    """Existing increments, oldest first (only those with a manifest, i.e. complete ones)."""
    root = dataset / "increments"
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.name.isdigit() and (p / "manifest.json").is_file())


def _write_updates(
    dataset: Path,
    earlier: list[Path],
    out: Path,
    last_id: int,
    share: float,
    injected: np.ndarray,
    rng: np.random.Generator,
) -> int:
    """Writes updates.csv with corrections of ids ``1..last_id``; returns its row count."""
    base = _read_manifest(dataset / "manifest.json")
    files = [(dataset / "transactions.csv", int(base["first_transaction_id"]))]
    files += [
        (d / "transactions.csv", int(_read_manifest(d / "manifest.json")["first_transaction_id"]))
        for d in earlier
    ]
    updates = build_updates(
        files, [d / "updates.csv" for d in earlier], last_id, share, injected, rng
    )
    with (out / "updates.csv").open("wb") as fh:
        fh.write((",".join(("transaction_id", *HEADER)) + "\n").encode())
        pacsv.write_csv(updates, fh, pacsv.WriteOptions(include_header=False, quoting_style="none"))
    return updates.num_rows


def generate_increment(
    dataset_dir: str | Path,
    seed: int | None = None,
    update_share: float = DEFAULT_UPDATE_SHARE,
    progress: Progress | None = None,
) -> dict[str, Any]:
    """Appends the next day to a generated dataset and returns the increment's manifest.

    Args:
        dataset_dir: a folder written by :func:`aml.generate.generator.generate`.
        seed: seed of this increment's traffic and corrections; default: the dataset's seed (the
            streams are keyed by increment number and day, so each increment still differs and
            re-running one gives the same bytes).
        update_share: share of earlier transaction ids given a corrected row in updates.csv.
        progress: optional ``(rows_done, rows_total)`` callback.

    Raises:
        DatasetError: ``dataset_dir`` has no readable manifest.json.
    """
    dataset = Path(dataset_dir)
    base = _read_manifest(dataset / "manifest.json")
    earlier = increment_dirs(dataset)
    prev = _read_manifest(earlier[-1] / "manifest.json") if earlier else base
    number = len(earlier) + 1
    out = dataset / "increments" / f"{number:04d}"
    out.mkdir(parents=True, exist_ok=True)
    base_seed = int(base["seed"])
    inc_seed = base_seed if seed is None else seed
    start = dt.date.fromisoformat(base["start_date"])
    day = (dt.date.fromisoformat(prev["end_date"]) - start).days + 1
    pop = build_population(base_seed, int(base["population_accounts"]))
    b = PlanBuilder(
        stream(inc_seed, P_INCREMENT, number),
        next_account=prev["next_account_index"],
        next_instance=prev["next_instance_id"],
    )
    rows_day = round(int(base["rows"]) / int(base["days"]))
    instances = plan_day(
        b, rows_day, float(base["laundering_rate"]), Window(day * DAY + 60, (day + 1) * DAY - 60)
    )
    counts = split_days(max(rows_day - b.n_rows, 0), day, 1, start.weekday())
    first_id = int(prev["last_transaction_id"]) + 1
    with TransactionWriter(out / "transactions.csv", base_seed, start) as writer:
        result = run_days(
            writer,
            pop,
            inc_seed,
            b.rows(),
            counts,
            day,
            first_id,
            b.suspicious,
            b.negatives,
            progress,
        )
    write_labels(out, result)
    date = start + dt.timedelta(days=day)
    owners = Owners(
        first_account=int(prev["next_account_index"]),
        loc=np.asarray(b.fresh_loc, dtype=np.int8),
        customer=int(prev["next_customer_index"]) + np.arange(len(b.fresh_loc)),
        is_mule=b.mule_flags(),
        opened_before=date,
    )
    write_people(out, base_seed, number, owners, start)
    injected = account_numbers(base_seed, np.arange(pop.size, b.next_account))
    n_updates = _write_updates(
        dataset,
        earlier,
        out,
        first_id - 1,
        update_share,
        injected,
        stream(inc_seed, P_UPDATES, number),
    )
    manifest = {
        "generator": "aml.generate",
        "generator_version": GENERATOR_VERSION,
        "increment": number,
        "base_seed": base_seed,
        "seed": inc_seed,
        "start_date": date.isoformat(),
        "end_date": date.isoformat(),
        "rows": result.last_id - first_id + 1,
        "first_transaction_id": first_id,
        "last_transaction_id": result.last_id,
        "next_account_index": b.next_account,
        "next_customer_index": int(prev["next_customer_index"]) + len(b.fresh_loc),
        "next_instance_id": b.next_instance,
        "laundering_type_counts": label_counts(result),
        "instances": dict(sorted(instances.items())),
        "hard_negatives": len(b.negatives),
        "updates": n_updates,
        "files": file_entries(out, [*INCREMENT_FILES]),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    log.info(
        "increment %04d: %s, %d rows (ids %d-%d), %d updates",
        number,
        date,
        manifest["rows"],
        first_id,
        result.last_id,
        n_updates,
    )
    return manifest
