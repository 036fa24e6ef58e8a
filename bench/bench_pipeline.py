"""Benchmark of ``aml run``: a full run, then a daily, an hourly and a one-row increment.

Per scale (``--rows``, one or more), in one run of this script:

1. generate the dataset (``var/bench/data/pipeline-<rows>-<seed>``), load it into the local
   PostgreSQL (truncating it), start from an empty lake (``var/bench/pipeline-lake``);
   each load's rows stamped as a daily and hourly schedule would have left them (``AGES``);
2. **full**: ``aml run`` (ingest, silver, gold in one Spark session), as a scheduler calls it:
   the real command in a process of its own, the JVM's start included;
3. **daily**: the generator's next day (about 3 % new rows) with 0.5 % of earlier rows
   corrected, loaded, then ``aml run``;
4. **hour**: the first hour of the day after, then ``aml run``;
5. **one row**: one earlier transaction corrected (its amount), then ``aml run``;
6. **no change**: ``aml run`` again with nothing new in the source: what a run costs before any
   work, the floor under every increment of this design (the session, each step's reads of
   its watermarks and sources, the bookkeeping);
7. with ``--resident``, the same kinds of increment again (fresh rows of each kind) through one
   resident ``aml run --every`` process, each cycle started by SIGUSR1 once its load is in
   (the loads never overlap a cycle): its first cycle (the next day's second hour: the
   session's warm-up), then its third hour, one corrected row, a daily increment and no
   change. Each is reported against the same full run, beside its separate-process twin.
   With ``--full-only``, steps 3-7 are skipped: the scale series (3M and 10M rows), where
   the full run's time and memory per step are what is measured.

Each run's wall time, its steps' times and phases (from ``aml run --report``) and the peak
memory of the run's process tree (Python driver + JVM + Python workers, sampled every 2 s, as
proportional set size so pages shared by forked workers count once) during each step are
reported, with the ratios the batch-cost targets are stated in: daily / full (target at
most 0.15), one row / full (at most 0.10), gate (the gold step's ``validate`` phase) / gold step
(at most 0.15). With several scales, the full run's seconds per million rows show how it grows.

Usage (services must be up: ``aml services up``)::

    .venv/bin/python bench/bench_pipeline.py --rows 1000000 [3000000 10000000] [--resident]
    .venv/bin/python bench/bench_pipeline.py --rows 1000000 10000000 --full-only

Keys are ephemeral (generated for the run, never written). Writes ``var/bench/pipeline.json``.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from cryptography.fernet import Fernet

from aml.config import PROJECT_ROOT, Config, load_config
from aml.generate.generator import generate
from aml.generate.increment import generate_increment
from aml.sources import db, loader

TARGETS = {"daily_share": 0.15, "one_row_share": 0.10, "gate_share": 0.15}
BENCH = PROJECT_ROOT / "var" / "bench"
# Reading a JVM's smaps_rollup walks its page tables (and takes its memory-map lock): every
# 0.2 s it cost the measured run about a fifth of a core; a heap's peak lasts longer than 2 s.
SAMPLE_SECONDS = 2.0
# How long before the next run each load is stamped (its rows' updated_at), as a schedule would
# leave them: the bulk load two days before the daily run, the day's rows an hour before the
# hourly run, the hour's rows 15 minutes before the next run. Ingest re-reads the rows of its
# look-back (``[ingest] lookback_seconds``, 10 minutes: transactions that committed late); in
# the bench every load would otherwise sit inside the next run's look-back and be read twice.
AGES = {"full": "2 days", "daily": "1 hour", "hour": "15 minutes"}


def source_clock(config: Config) -> dt.datetime:
    """The source database's clock (UTC), read before a load: its rows are stamped after it."""
    with db.connect(config, "postgres", autocommit=True) as conn:
        return conn.execute("SELECT statement_timestamp() AT TIME ZONE 'UTC'").fetchone()[0]


def age_load(config: Config, since: dt.datetime, age: str) -> None:
    """Moves the ``updated_at`` of every source row stamped after ``since`` back by ``age``
    (the tables' update triggers, which would stamp the update itself, off meanwhile)."""
    schema = db.schema_name(config, "postgres")
    with db.connect(config, "postgres") as conn:
        for table in db.STAMPED_TABLES:
            with db.stamps_kept(conn, schema, table):
                conn.execute(
                    f"UPDATE {schema}.{table} SET updated_at = updated_at - INTERVAL '{age}' "
                    "WHERE updated_at >= %s",
                    (since,),
                )
        conn.commit()


def _tree_memory(root: int) -> dict[str, int]:
    """Memory of ``root`` and all its descendants, from /proc (zeros once it is gone).

    ``pss`` is the proportional set size: a page shared by several processes counts once in
    all, split between them. Summing resident sets instead would count many times the pages
    that PySpark's forked Python workers share with their daemon. ``java`` and ``python`` split
    the PSS by program; ``python_processes`` counts the driver, daemon and workers.
    """
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        children.setdefault(ppid, []).append(int(entry.name))
    totals = {"rss": 0, "pss": 0, "java": 0, "python": 0, "python_processes": 0}
    todo = [root]
    while todo:
        pid = todo.pop()
        todo.extend(children.get(pid, []))
        try:
            comm = Path(f"/proc/{pid}/comm").read_text().strip()
            rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        except OSError:
            continue
        fields = {
            line.split(":")[0]: int(line.split()[1]) * 1024
            for line in rollup.splitlines()
            if line.startswith(("Rss:", "Pss:"))
        }
        totals["rss"] += fields.get("Rss", 0)
        totals["pss"] += fields.get("Pss", 0)
        kind = "java" if comm == "java" else "python" if comm.startswith("python") else None
        if kind:
            totals[kind] += fields.get("Pss", 0)
            totals["python_processes"] += kind == "python"
    return totals


def aml_run(env: dict[str, str], report: Path, log_file: Path) -> dict[str, Any]:
    """``aml run --report`` in its own process; its steps with wall time and peak memory."""
    report.unlink(missing_ok=True)
    cmd = [str(PROJECT_ROOT / ".venv" / "bin" / "aml"), "run", "--report", str(report)]
    started = time.monotonic()
    marks: list[tuple[str, float]] = []  # (line, seconds since start) of each progress line
    samples: list[tuple[float, dict[str, int]]] = []
    with log_file.open("a") as log:
        proc = subprocess.Popen(
            cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=log, text=True
        )
        done = threading.Event()

        def sample() -> None:
            while not done.is_set():
                samples.append((time.monotonic() - started, _tree_memory(proc.pid)))
                done.wait(SAMPLE_SECONDS)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        assert proc.stdout is not None
        for line in proc.stdout:
            marks.append((line.strip(), time.monotonic() - started))
            log.write(line)
        code = proc.wait()
        done.set()
        sampler.join()
    wall = time.monotonic() - started
    if code != 0:
        raise SystemExit(f"aml run failed with exit code {code}: see {log_file}")
    result = json.loads(report.read_text())
    # each progress line ends a phase of the run: the session's start, then one line per step
    edges = [0.0] + [t for _, t in marks[: 1 + len(result["steps"])]]

    result["wall_seconds"] = round(wall, 1)
    result["session_memory"] = _peak(samples, edges[0], edges[1])
    _step_peaks(result, samples, edges[1:])
    result["memory"] = _peak(samples, 0.0, wall)
    result["peak_gib"] = result["memory"].get("pss", 0.0)
    return result


def _peak(samples: list[tuple[float, dict[str, int]]], lo: float, hi: float) -> dict[str, float]:
    """The sample of largest PSS between ``lo`` and ``hi`` seconds, in GiB."""
    window = [mem for t, mem in samples if lo <= t <= hi] or [{}]
    top = max(window, key=lambda mem: mem.get("pss", 0))
    return {k: v if k == "python_processes" else round(v / 2**30, 2) for k, v in top.items()}


def _step_peaks(
    result: dict[str, Any], samples: list[tuple[float, dict[str, int]]], edges: list[float]
) -> None:
    """Each step's peak memory, the step lasting from ``edges[n]`` to ``edges[n + 1]``."""
    for n, step in enumerate(result["steps"]):
        step["memory"] = _peak(samples, edges[n], edges[n + 1])
        step["peak_gib"] = step["memory"].get("pss", 0.0)


class Resident:
    """``aml run --every`` in a process of its own, for the increments' warm twins.

    Its interval is a day, so it runs only when told: :meth:`cycle` sends SIGUSR1 (the bench's
    load is in by then) and waits for the cycle's last line, so a load never overlaps a cycle.
    Memory is sampled as for :func:`aml_run`, over the process's whole life.
    """

    def __init__(self, env: dict[str, str], report: Path, log_file: Path) -> None:
        report.unlink(missing_ok=True)
        self.report = report
        self.started = time.monotonic()
        self.log = log_file.open("a")
        cmd = [str(PROJECT_ROOT / ".venv" / "bin" / "aml"), "run", "--every", "86400",
               "--report", str(report)]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, env=env, cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=self.log, text=True
        )
        self.lines: list[tuple[str, float]] = []
        self.samples: list[tuple[float, dict[str, int]]] = []
        self.changed = threading.Condition()
        self.done = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._sample, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.log.write(line)
            with self.changed:
                self.lines.append((line.strip(), time.monotonic() - self.started))
                self.changed.notify_all()
        with self.changed:
            self.done.set()
            self.changed.notify_all()

    def _sample(self) -> None:
        while not self.done.is_set():
            self.samples.append((time.monotonic() - self.started, _tree_memory(self.proc.pid)))
            self.done.wait(SAMPLE_SECONDS)

    def _line(self, prefix: str, timeout: float = 4 * 3600) -> float:
        """Seconds (since the start) at which a line starting with ``prefix`` came."""
        deadline = time.monotonic() + timeout
        with self.changed:
            while True:
                for line, t in self.lines:
                    if line.startswith(prefix):
                        return t
                if self.done.is_set() or time.monotonic() > deadline:
                    raise SystemExit(
                        f"resident aml run: no '{prefix}' line (exit code {self.proc.poll()}): "
                        f"see {self.log.name}"
                    )
                self.changed.wait(10)

    def cycle(self, n: int) -> dict[str, Any]:
        """Cycle ``n`` (the first starts by itself; later ones on SIGUSR1): its report with
        wall time and peak memory per step."""
        if n > 1:
            self.proc.send_signal(signal.SIGUSR1)
        start = self._line(f"cycle {n} started")
        end = self._line(f"cycle {n}: ")
        result = json.loads(self.report.read_text())
        assert result["cycle"] == n and result["finished"], result
        steps = {line.split()[0]: t for line, t in self.lines if start <= t <= end}
        edges = [start] + [steps.get(s["step"], end) for s in result["steps"]]
        result["wall_seconds"] = round(end - start, 1)
        _step_peaks(result, self.samples, edges)
        result["memory"] = _peak(self.samples, start, end)
        result["peak_gib"] = result["memory"].get("pss", 0.0)
        return result

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=3600)
        self.done.wait(60)
        self.log.close()
        if code != 0:
            raise SystemExit(f"resident aml run exited with {code}")


def _hour(src: Path, out: Path, hour: int = 0) -> int:
    """Writes the rows of ``src`` (a day's transactions.csv, in time order) within its hour
    ``hour`` (0: the first) to ``out``; returns how many."""
    with src.open(newline="") as fh, out.open("w", newline="") as dst:
        reader, writer = csv.reader(fh), csv.writer(dst)
        header = next(reader)
        writer.writerow(header)
        time_col = header.index("Time")
        n = 0
        prefix = f"{hour:02d}:"
        for row in reader:
            if row[time_col] < prefix:
                continue
            if not row[time_col].startswith(prefix):
                break
            writer.writerow(row)
            n += 1
    return n


def _one_correction(updates: Path, out: Path, nth: int = 0) -> str:
    """A one-row updates.csv: correction ``nth`` (0: the first) of ``updates`` with its amount
    changed."""
    with updates.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        for _ in range(nth + 1):
            row = next(reader)
    amount = header.index("Amount")
    row[amount] = f"{float(row[amount]) + 1234.56:.2f}"
    with out.open("w", newline="") as fh:
        csv.writer(fh).writerows([header, row])
    return row[0]


def scale(
    rows: int,
    seed: int,
    env: dict[str, str],
    work: Path,
    resident: bool = False,
    full_only: bool = False,
) -> dict[str, Any]:
    dataset = BENCH / "data" / f"pipeline-{rows}-{seed}"
    lake = BENCH / "pipeline-lake"
    shutil.rmtree(lake, ignore_errors=True)
    shutil.rmtree(dataset, ignore_errors=True)  # increments are appended below
    config = (
        load_config("local")
        .with_lake(lake / "lake", lake / "checkpoints")
        .with_settings("paths", run=str(lake / "run"))
    )
    overrides = config.write_overrides(work / f"overrides-{rows}.toml")
    env = {**env, "AML_OVERRIDES": str(overrides)}
    log_file = work / f"pipeline-{rows}.log"
    report = work / "run-report.json"

    def timed_run(name: str, detail: dict[str, Any]) -> dict[str, Any]:
        print(f"  {name}: aml run ...", flush=True)
        result = {**detail, **aml_run(env, report, log_file)}
        steps = ", ".join(
            f"{s['step']} {s['seconds']}s/{s['peak_gib']}GiB" for s in result["steps"]
        )
        print(f"  {name}: {result['wall_seconds']}s ({steps})", flush=True)
        return result

    print(f"{rows:,} rows: generating ...", flush=True)
    t = time.monotonic()
    generate(dataset, rows=rows, seed=seed)
    generated = time.monotonic() - t
    t = time.monotonic()
    since = source_clock(config)
    loader.load(config, "postgres", dataset=dataset, truncate=True)
    loaded = time.monotonic() - t
    age_load(config, since, AGES["full"])
    runs: dict[str, Any] = {"full": timed_run("full", {})}
    full = runs["full"]["wall_seconds"]
    gold = next(s for s in runs["full"]["steps"] if s["step"] == "gold")
    measured = {
        "rows": rows,
        "seed": seed,
        "generate_seconds": round(generated, 1),
        "load_seconds": round(loaded, 1),
        "runs": runs,
        "full_seconds_per_million_rows": round(full / (rows / 1e6), 1),
    }
    gate_share = round(gold["phases"].get("validate", 0.0) / gold["seconds"], 3)
    if full_only:
        return {**measured, "ratios": {"gate_share": gate_share}}

    daily = generate_increment(dataset, update_share=0.005)
    since = source_clock(config)
    loader.load(config, "postgres", dataset=dataset, increments=[f"{daily['increment']:04d}"])
    age_load(config, since, AGES["daily"])
    runs["daily"] = timed_run(
        "daily", {"new_rows": daily["rows"], "corrected_rows": daily["updates"]}
    )

    nxt = generate_increment(dataset, update_share=0.0)
    inc_dir = dataset / "increments" / f"{nxt['increment']:04d}"
    hour_csv = work / "hour.csv"
    n_hour = _hour(inc_dir / "transactions.csv", hour_csv)
    since = source_clock(config)
    with loader.Loader(config, "postgres") as load:
        load.transactions(hour_csv, int(nxt["first_transaction_id"]))
    age_load(config, since, AGES["hour"])
    runs["hour"] = timed_run("hour", {"new_rows": n_hour})

    one_csv = work / "one-row.csv"
    changed = _one_correction(dataset / "increments" / f"{daily['increment']:04d}" / "updates.csv",
                              one_csv)  # fmt: skip
    with loader.Loader(config, "postgres") as load:
        load.updates(one_csv)
    runs["one_row"] = timed_run("one row", {"corrected_rows": 1, "transaction_id": changed})
    runs["no_change"] = timed_run("no change", {})

    warm: dict[str, Any] = {}
    if resident:
        # the next day's second hour follows its first hour's ids
        after_hour = int(nxt["first_transaction_id"]) + n_hour
        warm = _resident_runs(config, env, work, log_file, dataset, daily, inc_dir, after_hour)
    return {
        **measured,
        "ratios": {
            "daily_share": round(runs["daily"]["wall_seconds"] / full, 3),
            "hour_share": round(runs["hour"]["wall_seconds"] / full, 3),
            "one_row_share": round(runs["one_row"]["wall_seconds"] / full, 3),
            "no_change_share": round(runs["no_change"]["wall_seconds"] / full, 3),
            "gate_share": gate_share,
        },
        **(
            {
                "resident_runs": warm,
                "resident_ratios": {
                    f"{kind}_share": round(warm[kind]["wall_seconds"] / full, 3)
                    for kind in ("daily", "hour", "one_row", "no_change")
                },
            }
            if warm
            else {}
        ),
    }


def _resident_runs(
    config: Config,
    env: dict[str, str],
    work: Path,
    log_file: Path,
    dataset: Path,
    daily: dict[str, Any],
    next_day: Path,
    next_first_id: int,
) -> dict[str, Any]:
    """The increments' warm twins through one resident ``aml run --every`` (:class:`Resident`):
    fresh rows of each kind, each load in before its cycle starts. Its first cycle takes the
    next day's second hour (the session's warm-up: the JVM's start, class loading and the JIT
    on real work); then its third hour, one corrected row, a daily increment and nothing.
    Before each load the rows of the last hour are stamped an hour older, as an hourly cycle
    finds the previous cycle's rows: out of the look-back (the loads' own stamps stay, ahead
    of the watermark)."""
    runs: dict[str, Any] = {}
    resident: Resident | None = None

    def timed_cycle(name: str, n: int, detail: dict[str, Any]) -> None:
        nonlocal resident
        if resident is None:  # its first cycle starts as soon as its session is up
            resident = Resident(env, work / "resident-report.json", log_file)
        print(f"  resident {name}: cycle {n} ...", flush=True)
        result = {**detail, **resident.cycle(n)}
        steps = ", ".join(
            f"{s['step']} {s['seconds']}s/{s['peak_gib']}GiB" for s in result["steps"]
        )
        print(f"  resident {name}: {result['wall_seconds']}s ({steps})", flush=True)
        runs[name] = result

    def an_hour_later() -> None:
        age_load(config, source_clock(config) - dt.timedelta(hours=1), "1 hour")

    def load_hour(hour: int, first_id: int) -> int:
        hour_csv = work / f"hour-{hour}.csv"
        n = _hour(next_day / "transactions.csv", hour_csv, hour=hour)
        an_hour_later()
        with loader.Loader(config, "postgres") as load:
            load.transactions(hour_csv, first_id)
        return n

    try:
        n_warm = load_hour(1, next_first_id)
        timed_cycle("warm_up", 1, {"new_rows": n_warm})
        n_hour = load_hour(2, next_first_id + n_warm)
        timed_cycle("hour", 2, {"new_rows": n_hour})

        one_csv = work / "one-row-2.csv"
        updates = dataset / "increments" / f"{daily['increment']:04d}" / "updates.csv"
        changed = _one_correction(updates, one_csv, nth=1)
        an_hour_later()
        with loader.Loader(config, "postgres") as load:
            load.updates(one_csv)
        timed_cycle("one_row", 3, {"corrected_rows": 1, "transaction_id": changed})

        day = generate_increment(dataset, update_share=0.005)
        an_hour_later()
        loader.load(config, "postgres", dataset=dataset, increments=[f"{day['increment']:04d}"])
        timed_cycle("daily", 4, {"new_rows": day["rows"], "corrected_rows": day["updates"]})

        an_hour_later()
        timed_cycle("no_change", 5, {})
    finally:
        if resident is not None:
            resident.stop()
    return runs


def _share(ratio: float | None) -> str:
    return f"{'-':>7}" if ratio is None else f"{ratio:>7.1%}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--out", type=Path, default=BENCH / "pipeline.json")
    parser.add_argument(
        "--resident",
        action="store_true",
        help="also run each kind of increment through one resident `aml run --every` process",
    )
    parser.add_argument(
        "--full-only",
        action="store_true",
        help="only the full run per scale (the scale series: its time and memory per step)",
    )
    args = parser.parse_args(argv)
    if args.resident and args.full_only:
        parser.error("--resident measures increments; --full-only skips them")
    env = {
        **os.environ,
        "AML_FERNET_KEYS": Fernet.generate_key().decode(),
        "AML_TOKEN_KEY": Fernet.generate_key().decode(),
        "PYSPARK_PYTHON": sys.executable,
    }
    work = BENCH / "pipeline-work"
    work.mkdir(parents=True, exist_ok=True)
    scales: list[dict[str, Any]] = []
    result = {
        "command": "bench/bench_pipeline.py --rows "
        + " ".join(map(str, args.rows))
        + (" --resident" if args.resident else "")
        + (" --full-only" if args.full_only else ""),
        "targets": TARGETS,
        "scales": scales,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    for rows in args.rows:  # written after each scale: a long series keeps what it measured
        scales.append(scale(rows, args.seed, env, work, args.resident, args.full_only))
        args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\n{'rows':>11} {'full s':>8} {'daily':>7} {'hour':>7} {'1 row':>7} {'none':>7} "
          f"{'gate':>7} {'s/M rows':>9} {'peak GiB':>9}")  # fmt: skip
    for s in scales:
        shares = " ".join(
            _share(s["ratios"].get(f"{kind}_share"))
            for kind in ("daily", "hour", "one_row", "no_change", "gate")
        )
        print(
            f"{s['rows']:>11,} {s['runs']['full']['wall_seconds']:>8} {shares} "
            f"{s['full_seconds_per_million_rows']:>9} {s['runs']['full']['peak_gib']:>9}"
        )
    if len(scales) > 1:
        print("\nfull run per step (s / peak GiB):")
        for s in scales:
            steps = "  ".join(
                f"{st['step']} {st['seconds']} / {st['peak_gib']}"
                for st in s["runs"]["full"]["steps"]
            )
            print(f"{s['rows']:>11,} {steps}")
    for s in scales:
        if "resident_ratios" in s:
            r = s["resident_ratios"]
            print(
                f"{s['rows']:>11,} {'resident':>8} {r['daily_share']:>7.1%} "
                f"{r['hour_share']:>7.1%} {r['one_row_share']:>7.1%} {r['no_change_share']:>7.1%}"
            )
    t = TARGETS
    print(
        f"targets: daily <= {t['daily_share']:.0%}, one row <= {t['one_row_share']:.0%}, "
        f"gate <= {t['gate_share']:.0%}; {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
