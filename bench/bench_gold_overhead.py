"""Two fixed costs of every gold run, each way measured alternately in one Spark session.

1. Uniting the rules' hits: rule pack v2's 16 rules give 16 frames (each rule's SQL over silver,
   with its identity columns), united by name into the one frame the run evaluates. PySpark
   analyses every frame it builds, walking the whole plan; this times the union alone (no job
   runs), built as a chain (``unionByName`` one frame at a time) and as the balanced tree
   :func:`aml.frames.union_all` builds.
2. A table's newest version: a Spark query of its history (``DeltaTable.history(1)``) against a
   listing of its log (:func:`aml.delta_io.current_version`, ``aml.delta_log.newest_version``).

After one uncounted warm-up of each, the two ways alternate ``--rounds`` times; the report is
each way's median and their ratio. Nothing is written to the lake.

Usage (after ``bench/bench_pipeline.py --rows N --full-only`` built var/bench/pipeline-lake)::

    .venv/bin/python bench/bench_gold_overhead.py [--lake var/bench/pipeline-lake/lake] [--rounds 5]

Writes ``var/bench/gold-overhead.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pyspark.sql import DataFrame

from aml import delta_io, frames
from aml.config import PROJECT_ROOT, load_config
from aml.gold import evaluation, rulepack
from aml.spark import build_session

BENCH = PROJECT_ROOT / "var" / "bench"
VERSION_CALLS = 10


def chained(parts: list[DataFrame]) -> DataFrame:
    """The union built one frame at a time (what ``union_all`` did before the tree)."""
    out = parts[0]
    for part in parts[1:]:
        out = out.unionByName(part)
    return out


def _timed(action: Callable[[], object]) -> float:
    started = time.monotonic()
    action()
    return time.monotonic() - started


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=BENCH / "pipeline-lake" / "lake")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=BENCH / "gold-overhead.json")
    args = parser.parse_args(argv)
    if not (args.lake / "gold" / "alerts").is_dir():
        print(f"no gold.alerts under {args.lake}: build a lake first", file=sys.stderr)
        return 2
    config = load_config("local").with_lake(args.lake)
    spark = build_session(config, "aml-bench-gold-overhead")
    pack = rulepack.load(config)
    lineage = evaluation.Lineage(0, "bench", dt.datetime(2026, 1, 1))
    tx_df = frames.materialise(
        spark.read.format("delta").load(config.table_path("silver", "transactions"))
    )
    silver_rows = tx_df.count()
    alerts_path = config.table_path("gold", "alerts")

    def parts() -> list[DataFrame]:
        return [
            evaluation.with_identity(evaluation.raw_hits(spark, tx_df, rule), rule, lineage)
            for rule in pack.enabled
        ]

    versions: dict[str, Callable[[], object]] = {
        "history": lambda: [
            delta_io.last_commit(spark, alerts_path)[0] for _ in range(VERSION_CALLS)
        ],
        "log listing": lambda: [
            delta_io.current_version(spark, alerts_path) for _ in range(VERSION_CALLS)
        ],
    }
    times: dict[str, dict[str, list[float]]] = {
        "union": {"chained": [], "tree": []},
        "version": {"history": [], "log listing": []},
    }
    for round_no in range(args.rounds + 1):  # round 0 warms up and is not counted
        for name, union in (("chained", chained), ("tree", frames.union_all)):
            frames_now = parts()  # built outside the timing: each way unites fresh frames
            seconds = _timed(lambda u=union, f=frames_now: u(f))
            if round_no:
                times["union"][name].append(seconds)
        for name, action in versions.items():
            seconds = _timed(action)
            if round_no:
                times["version"][name].append(seconds)
        print(f"round {round_no}: " + (", ".join(
            f"{name} {values[-1]:.4f}s" for part in times.values()
            for name, values in part.items()
        ) if round_no else "warm-up"), flush=True)  # fmt: skip
    frames.release(tx_df)
    medians = {
        part: {name: round(statistics.median(values), 5) for name, values in way.items()}
        for part, way in times.items()
    }
    report = {
        "lake": str(args.lake),
        "silver_rows": silver_rows,
        "rules": len(pack.enabled),
        "rounds": args.rounds,
        "version_calls_per_round": VERSION_CALLS,
        "seconds": times,
        "medians": medians,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    union, version = medians["union"], medians["version"]
    print(
        "\n| cost | before s | after s | after / before |\n|---|---:|---:|---:|\n"
        f"| uniting {len(pack.enabled)} rules' hits | {union['chained']:.2f} (chained) | "
        f"{union['tree']:.2f} (tree) | {union['tree'] / union['chained']:.2f} |\n"
        f"| {VERSION_CALLS} table versions | {version['history']:.2f} (history) | "
        f"{version['log listing']:.4f} (log listing) | "
        f"{version['log listing'] / version['history']:.4f} |\n"
        f"{args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
