"""Benchmark of the gold build: time on N transactions and the validation's share of it.

The dataset goes the real way once (generate, load into the local PostgreSQL, ingest, build
silver) into a lake of its own; then the real gold job (``aml.gold.job.run``, full rebuild:
every rule over every subject, staging, the Great Expectations gate over silver and the staged
gold, publishing) runs ``--repeat`` times. Reported per round and for the best round: the
build's wall time and its phases (evaluate + stage, validate, publish), and the validation's
share of the build (target: at most 25 %). Then one generated increment is taken through
ingest and silver, and the incremental gold run (scoped to the touched subjects) is timed
against the full one. Finally ``aml evaluate`` writes the detection-quality report.

Usage (services must be up: ``aml services up``)::

    .venv/bin/python bench/bench_gold.py [--rows 1000000] [--repeat 2]

Keys are ephemeral (generated for the run, never written). Writes ``var/bench/gold.json`` and
``var/bench/detection/detection.{md,json}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import time

from cryptography.fernet import Fernet

from aml.config import PROJECT_ROOT, load_config
from aml.generate.generator import generate
from aml.generate.increment import generate_increment
from aml.gold import job as gold_job
from aml.ingest import job as ingest_job
from aml.silver import job as silver_job
from aml.sources import loader
from aml.spark import build_session


def _round(spark, config, full_refresh: bool) -> dict:
    started = time.monotonic()
    run = gold_job.run(spark, config, full_refresh=full_refresh)
    total = time.monotonic() - started
    phases = {k: round(v, 2) for k, v in run.phases.items()}
    return {
        "seconds": round(total, 2),
        "phases": phases,
        "validation_share": round(run.phases.get("validate", 0.0) / total, 4),
        "changes_published": run.rows_written,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    # the gate's per-suite and reconciliation times: where each validate phase went
    for name in ("aml.gold.validate", "aml.gold.job"):
        logging.getLogger(name).setLevel(logging.INFO)
    os.environ["AML_FERNET_KEYS"] = Fernet.generate_key().decode()
    os.environ["AML_TOKEN_KEY"] = Fernet.generate_key().decode()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)

    bench_dir = PROJECT_ROOT / "var" / "bench"
    dataset = bench_dir / "data" / f"gold-{args.rows}-{args.seed}"
    lake = bench_dir / "gold-lake"
    shutil.rmtree(lake, ignore_errors=True)
    shutil.rmtree(dataset, ignore_errors=True)  # increments are appended to it below
    config = load_config("local").with_lake(lake)
    print(f"generating {args.rows:,} rows (seed {args.seed}) ...", flush=True)
    generate(dataset, rows=args.rows, seed=args.seed)
    spark = build_session(config, "aml-bench-gold")

    print("loading PostgreSQL, ingesting, building silver ...", flush=True)
    loader.load(config, "postgres", dataset=dataset, truncate=True)
    ingest_job.run(spark, config, None, "postgres")
    silver_job.run(spark, config)
    silver_rows = spark.read.format("delta").load(config.table_path("silver", "transactions"))
    n_silver = silver_rows.count()

    rounds = []
    for i in range(args.repeat):
        result = _round(spark, config, full_refresh=True)
        rounds.append(result)
        print(f"full gold build {i + 1}/{args.repeat}: {result}", flush=True)
    best = min(rounds, key=lambda r: r["seconds"])

    print("one increment through ingest and silver, then the incremental gold run ...", flush=True)
    generate_increment(dataset)
    loader.load(config, "postgres", dataset=dataset, increments=loader.list_increments(dataset))
    ingest_job.run(spark, config, None, "postgres")
    silver_job.run(spark, config)
    incremental = _round(spark, config, full_refresh=False)
    print(f"incremental gold run: {incremental}", flush=True)

    from aml.gold.evaluate import evaluate

    report_dir = bench_dir / "detection"
    evaluate(spark, config, dataset, report_dir)
    result = {
        "rows": args.rows,
        "silver_rows": n_silver,
        "seed": args.seed,
        "rounds": rounds,
        "best": best,
        "validation_share_of_best": best["validation_share"],
        "target_validation_share": 0.25,
        "incremental": incremental,
        "incremental_share_of_full": round(incremental["seconds"] / best["seconds"], 4),
        "detection_report": str(report_dir / "detection.md"),
        "command": f"bench/bench_gold.py --rows {args.rows} --repeat {args.repeat}",
    }
    out = bench_dir / "gold.json"
    out.write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))
    spark.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
