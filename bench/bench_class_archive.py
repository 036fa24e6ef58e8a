"""A job process's cold start with and without the driver JVM's class-data archive.

Each round starts two fresh Python processes, one whose Spark session maps the archive
(:mod:`aml.class_archive`, ``[jars] class_archive = true``) and one without it, in alternating
order. Each process times what every job process pays before its work gets cheap: the session
(JVM start), the first Delta read of silver, and the first evaluation of the rule pack (every
rule's hits, scored and consolidated, counted). The report is each phase's median over the
rounds and the ratio with / without.

Usage (after ``bench/bench_pipeline.py --rows N --full-only`` built var/bench/pipeline-lake, and
``aml jars archive``, which bootstrap runs)::

    .venv/bin/python bench/bench_class_archive.py [--lake var/bench/pipeline-lake/lake] [--rounds 3]

Writes ``var/bench/class-archive.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import subprocess
import sys
import time
from pathlib import Path

from aml.config import PROJECT_ROOT, load_config

BENCH = PROJECT_ROOT / "var" / "bench"
PHASES = ("session", "first Delta read", "first rule-pack evaluation", "process")
WAYS = ("with archive", "without")


def child(lake: Path, use_archive: bool) -> None:
    """One cold process: prints its phase times as one JSON line."""
    started = time.monotonic()
    from aml import frames
    from aml.gold import rulepack, scored_changes
    from aml.gold import suppressions as gold_suppressions
    from aml.gold.evaluation import Lineage
    from aml.spark import build_session

    config = load_config("local").with_lake(lake)
    config = config.with_settings("jars", class_archive=use_archive)
    times: dict[str, float] = {}
    mark = started
    spark = build_session(config, "aml-bench-class-archive", {"spark.ui.enabled": "false"})
    times["session"], mark = time.monotonic() - mark, time.monotonic()
    tx_df = frames.materialise(
        spark.read.format("delta").load(config.table_path("silver", "transactions"))
    )
    rows = tx_df.count()
    times["first Delta read"], mark = time.monotonic() - mark, time.monotonic()
    pack = rulepack.load(config)
    lineage = Lineage(0, "bench", dt.datetime(2026, 1, 1))
    changes = scored_changes.full(spark, tx_df, pack, lineage, gold_suppressions.load(config))
    alerts = changes.alerts_df.count()
    times["first rule-pack evaluation"] = time.monotonic() - mark
    times["process"] = time.monotonic() - started
    options = spark.conf.get("spark.driver.extraJavaOptions", "")
    mapped = "SharedArchiveFile" in options
    print(json.dumps({"times": times, "rows": rows, "alerts": alerts, "archive": mapped}))


def _run_child(lake: Path, use_archive: bool) -> dict:
    proc = subprocess.run(
        [sys.executable, __file__, "--child", "on" if use_archive else "off", "--lake", str(lake)],
        capture_output=True,
        text=True,
        check=False,
        timeout=1_800,
    )
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode != 0 or not lines:
        raise SystemExit(f"bench process failed:\n{proc.stderr[-3000:]}")
    result = json.loads(lines[-1])
    if result["archive"] != use_archive:
        raise SystemExit(
            "the archive was not mapped as asked: run `aml jars archive` first"
            if use_archive
            else "the archive was mapped although turned off"
        )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=BENCH / "pipeline-lake" / "lake")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=BENCH / "class-archive.json")
    parser.add_argument("--child", choices=("on", "off"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        child(args.lake, args.child == "on")
        return 0
    if not (args.lake / "silver" / "transactions").is_dir():
        print(f"no silver.transactions under {args.lake}: build a lake first", file=sys.stderr)
        return 2
    from aml import class_archive

    archive = class_archive.archive_path(load_config("local"))
    if not archive.is_file():
        print(f"no archive at {archive}: run `aml jars archive` first", file=sys.stderr)
        return 2
    times: dict[str, dict[str, list[float]]] = {way: {p: [] for p in PHASES} for way in WAYS}
    facts = {}
    for round_no in range(1, args.rounds + 1):
        order = WAYS if round_no % 2 else WAYS[::-1]
        for way in order:
            result = _run_child(args.lake, way == WAYS[0])
            facts = {"silver_rows": result["rows"], "alerts": result["alerts"]}
            for phase in PHASES:
                times[way][phase].append(result["times"][phase])
            print(f"round {round_no} {way}: " + ", ".join(
                f"{p} {result['times'][p]:.1f}s" for p in PHASES
            ), flush=True)  # fmt: skip
    medians = {
        way: {p: round(statistics.median(v), 2) for p, v in phases.items()}
        for way, phases in times.items()
    }
    report = {
        "lake": str(args.lake),
        "archive": str(archive),
        "archive_mb": round(archive.stat().st_size / 2**20),
        "rounds": args.rounds,
        **facts,
        "seconds": times,
        "medians": medians,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    with_, without = medians[WAYS[0]], medians[WAYS[1]]
    print("\n| phase (cold process) | without s | with archive s | with / without |")
    print("|---|---:|---:|---:|")
    for phase in PHASES:
        print(f"| {phase} | {without[phase]:.1f} | {with_[phase]:.1f} | "
              f"{with_[phase] / without[phase]:.2f} |")  # fmt: skip
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
