"""Where scoping pays: changed silver rows, gold run scoped and in full, alternately.

Gold has two ways to take an increment, with the same tables either way: re-evaluate only the
subjects, time spans and profile weeks the changes reach (scoped), or evaluate every subject,
merge the difference and rebuild the profiles (full). Each round corrects one silver row, or
with ``--share`` about that share of them (a Delta UPDATE of their amounts, so the change feed
holds them, as a silver MERGE of corrected rows would), then runs the real gold job (hits,
alerts, gate, publish, profiles) in one Spark session with the settings that choose each
way: ``[gold] full_evaluation_share`` 1 (scoped) or 0 (every subject,
``aml.gold.evaluation.ScopePolicy``) and ``profiles_scoped_min_rows`` 0 (scoped) or above
silver's size (rebuilt, ``aml.gold.baselines``). After one uncounted warm-up run, the two
alternate, ``--rounds`` times each, so both see the same load on a shared machine; the report
is each one's median and their ratio.

Usage (after ``bench/bench_pipeline.py --rows N --full-only`` built var/bench/pipeline-lake)::

    .venv/bin/python bench/bench_gold_scope.py [--lake var/bench/pipeline-lake/lake] [--rounds 2] \
        [--share 0.033]

The lake is copied first (the original is not changed). Writes ``var/bench/gold-scope.json``
(``--out``).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import statistics
import sys
import time
from pathlib import Path

from pyspark.sql import functions as F

from aml.config import PROJECT_ROOT, load_config
from aml.gold import job as gold_job
from aml.ops import watermark_book
from aml.spark import build_session

BENCH = PROJECT_ROOT / "var" / "bench"
POLICIES = ("scoped", "full")


def copy_lake(source: Path, name: str, needs: str) -> Path | None:
    """A fresh copy of the lake ``source`` as var/bench/``name`` (the original is not changed),
    or None (with a message) when it has no table ``needs`` (``layer/table``)."""
    if not (source / needs).is_dir():
        print(f"no {needs.replace('/', '.')} under {source}: build a lake first", file=sys.stderr)
        return None
    lake = BENCH / name
    shutil.rmtree(lake, ignore_errors=True)
    shutil.copytree(source, lake)
    return lake


def correct_one_row(spark, silver_path: str, round_no: int) -> int:
    """Adds 0.01 to one silver row's amount (a different row each round); returns its id."""
    from delta.tables import DeltaTable

    row = spark.read.format("delta").load(silver_path).orderBy(F.rand(round_no)).first()
    DeltaTable.forPath(spark, silver_path).update(
        F.col("transaction_id") == row["transaction_id"], {"amount": F.col("amount") + 0.01}
    )
    return int(row["transaction_id"])


def correct_share(spark, silver_path: str, round_no: int, share: float) -> int:
    """Adds 0.01 to the amount of about ``share`` of silver's rows (a different draw each
    round, by a hash of the id), in one UPDATE; returns how many rows it corrected."""
    from delta.tables import DeltaTable

    every = max(1, round(1 / share))
    drawn = F.pmod(F.xxhash64(F.col("transaction_id"), F.lit(round_no)), F.lit(every)) == 0
    rows = spark.read.format("delta").load(silver_path).where(drawn).count()
    DeltaTable.forPath(spark, silver_path).update(drawn, {"amount": F.col("amount") + 0.01})
    return rows


def lake_rounds_args(
    doc: str,
    out: str,
    argv: list[str] | None,
    share: bool = False,
    compare: tuple[str, ...] = (),
) -> argparse.Namespace:
    """``--lake``, ``--rounds`` and ``--out`` (default var/bench/``out``) of a bench that
    corrects rows of a copy of a lake (and ``--share``, with ``share``; ``--compare``, one of
    ``compare``, the first by default), parsed; warnings-only logging."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--lake", type=Path, default=BENCH / "pipeline-lake" / "lake")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", type=Path, default=BENCH / out)
    if share:
        parser.add_argument(
            "--share",
            type=float,
            default=None,
            help="correct about this share of silver's rows per round (default: one row)",
        )
    if compare:
        parser.add_argument("--compare", choices=compare, default=compare[0])
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    return parser.parse_args(argv)


def finish(spark, lake: Path, out: Path, result: dict) -> None:
    """Writes ``result`` to ``out`` as JSON, stops the session and removes the lake's copy."""
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    spark.stop()
    shutil.rmtree(lake, ignore_errors=True)


def main(argv: list[str] | None = None) -> int:
    args = lake_rounds_args(__doc__, "gold-scope.json", argv, share=True)
    lake = copy_lake(args.lake, "gold-scope-lake", "silver/transactions")
    if lake is None:
        return 2
    base = load_config("local").with_lake(lake)
    spark = build_session(base, "aml-bench-gold-scope")
    silver_path = base.table_path("silver", "transactions")
    silver_rows = spark.read.format("delta").load(silver_path).count()
    configs = {
        "scoped": base.with_settings("gold", full_evaluation_share=1.0, profiles_scoped_min_rows=0),
        "full": base.with_settings(
            "gold", full_evaluation_share=0.0, profiles_scoped_min_rows=silver_rows + 1
        ),
    }
    runs: dict[str, list[dict]] = {policy: [] for policy in POLICIES}
    # round 0 warms the session (class loading, the JIT on the real plans) and is not counted:
    # the first gold run of a session costs far more than the next ones, whichever its policy
    for round_no in range(args.rounds * len(POLICIES) + 1):
        policy = POLICIES[round_no % len(POLICIES)]
        if args.share is None:
            changed = {"transaction_id": correct_one_row(spark, silver_path, round_no)}
        else:
            changed = {"corrected": correct_share(spark, silver_path, round_no, args.share)}
        started = time.monotonic()
        with watermark_book(spark, configs[policy]):
            job_run = gold_job.run(spark, configs[policy])
        seconds = round(time.monotonic() - started, 1)
        phases = {k: round(v, 1) for k, v in job_run.phases.items()}
        label = f"round {(round_no + 1) // 2}" if round_no else "warm-up"
        print(f"  {policy:<6} {label}: {seconds:6.1f}s {phases}", flush=True)
        if round_no:
            runs[policy].append({**changed, "seconds": seconds, **phases})
    medians = {
        policy: {
            key: round(statistics.median(run.get(key, 0.0) for run in runs[policy]), 1)
            for key in ("seconds", "evaluate", "validate", "publish", "profiles")
        }
        for policy in POLICIES
    }
    result = {
        "command": " ".join(["bench/bench_gold_scope.py", *(argv or sys.argv[1:])]),
        "silver_rows": silver_rows,
        "rounds": args.rounds,
        "runs": runs,
        "medians": medians,
        "full_over_scoped": round(medians["full"]["seconds"] / medians["scoped"]["seconds"], 3),
    }
    change = "one changed row" if args.share is None else f"{args.share:.1%} of rows changed"
    print(f"\n{silver_rows:,} silver rows, {change}, median of {args.rounds}:")
    print("  policy   gold s  evaluate  validate  publish  profiles")
    for policy in POLICIES:
        m = medians[policy]
        print(f"  {policy:<6} {m['seconds']:8.1f} {m['evaluate']:9.1f} {m['validate']:9.1f} "
              f"{m['publish']:8.1f} {m['profiles']:9.1f}")  # fmt: skip
    print(f"  full / scoped: {result['full_over_scoped']:.2f}; {args.out}")
    finish(spark, lake, args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
