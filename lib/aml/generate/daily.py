"""The day loop shared by full generation and increments.

Memory stays bounded by one day of normal rows plus the (small) plan: each day draws its normal
traffic from its own random stream, merges the plan's rows of that day, sorts stably by time and is
appended to the CSV. Transaction ids are assigned here, in file order, which is exactly how the
loader numbers rows (``first_transaction_id`` + line index), so the ground truth can name ids.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from aml.generate.domains import DAY, IS_LAUNDERING, LAUNDERING_TYPES
from aml.generate.normal import normal_day
from aml.generate.population import P_DAY, Population, stream
from aml.generate.rows import Rows
from aml.generate.writer import TransactionWriter

log = logging.getLogger("aml.generate")
Progress = Callable[[int, int], None]  # (rows done, rows total)
PROGRESS_EVERY_S = 5.0


@dataclass
class DayLoopResult:
    """What the loop learnt while writing: labels by id and counts for the manifest."""

    first_id: int
    last_id: int
    ground_truth: list[tuple[int, str, int]] = field(default_factory=list)
    hard_negatives: list[tuple[int, str, int]] = field(default_factory=list)
    type_counts: np.ndarray = field(
        default_factory=lambda: np.zeros(len(LAUNDERING_TYPES), np.int64)
    )


def split_days(total: int, first_day: int, n_days: int, start_weekday: int) -> np.ndarray:
    """Spreads ``total`` rows over days (weekends at 75 %), exactly, by largest remainder."""
    weekday = (start_weekday + first_day + np.arange(n_days)) % 7
    weights = np.where(weekday >= 5, 0.75, 1.0)
    exact = weights / weights.sum() * total
    counts = np.floor(exact).astype(np.int64)
    short = total - int(counts.sum())
    counts[np.argsort(-(exact - counts), kind="stable")[:short]] += 1
    return counts


def _record(
    result: DayLoopResult,
    rows: Rows,
    ids: np.ndarray,
    suspicious: dict[int, str],
    negatives: dict[int, str],
) -> None:
    result.type_counts += np.bincount(rows.ltype, minlength=len(LAUNDERING_TYPES))
    for i in np.flatnonzero(rows.tag):
        tag = int(rows.tag[i])
        if IS_LAUNDERING[rows.ltype[i]] and tag in suspicious:
            result.ground_truth.append((tag, LAUNDERING_TYPES[rows.ltype[i]], int(ids[i])))
        elif tag in negatives:
            result.hard_negatives.append((tag, negatives[tag], int(ids[i])))


def run_days(
    writer: TransactionWriter,
    pop: Population,
    seed: int,
    planned: Rows,
    normal_counts: np.ndarray,
    first_day: int,
    first_id: int,
    suspicious: dict[int, str],
    negatives: dict[int, str],
    progress: Progress | None = None,
) -> DayLoopResult:
    """Writes days ``first_day ..`` (one per entry of ``normal_counts``) and returns the labels."""
    result = DayLoopResult(first_id=first_id, last_id=first_id - 1)
    total = int(normal_counts.sum()) + len(planned)
    bounds = np.searchsorted(planned.sec, (first_day + np.arange(normal_counts.size + 1)) * DAY)
    started = last_report = time.monotonic()
    done = 0
    for i, n_normal in enumerate(normal_counts):
        day = first_day + i
        normal = normal_day(pop, stream(seed, P_DAY, day), int(n_normal), day)
        rows = Rows.concat([normal, planned.take(slice(bounds[i], bounds[i + 1]))]).sorted_by_time()
        ids = result.last_id + 1 + np.arange(len(rows), dtype=np.int64)
        writer.write(rows)
        _record(result, rows, ids, suspicious, negatives)
        result.last_id += len(rows)
        done += len(rows)
        now = time.monotonic()
        if progress is not None:
            progress(done, total)
        if now - last_report >= PROGRESS_EVERY_S:
            last_report = now
            log.info(
                "day %d/%d: %s/%s rows, %s rows/s",
                i + 1,
                normal_counts.size,
                f"{done:,}",
                f"{total:,}",
                f"{done / (now - started):,.0f}",
            )
    return result
