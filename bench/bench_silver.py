"""Benchmark of the silver build: throughput with field-level encryption on and off, one run.

Bronze is made once from a generated SAML-D file (N rows, text-typed, as a file- or stream-fed
bronze is); then the real silver job (``aml.silver.job.run``, full refresh, parse, checks,
quarantine, enrichment, tokens) builds silver twice into separate lakes, once with Fernet
encryption of the account numbers and quarantined records and once without, alternating the
order over ``--repeat`` rounds so that warm-up and machine noise hit both alike. Reported:
rows/s of each (best of the rounds) and their ratio (target: with >= 50 % of without).

Usage::

    .venv/bin/python bench/bench_silver.py [--rows 1000000] [--repeat 2]

Keys are ephemeral (generated for the run, never written). Writes ``var/bench/silver.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from cryptography.fernet import Fernet

from aml import saml_d
from aml.config import PROJECT_ROOT, load_config
from aml.generate.generator import generate
from aml.silver import job as silver_job
from aml.silver.conform import RAW_FIELDS
from aml.spark import build_session


def make_bronze(spark, csv_path: Path, bronze_path: str) -> int:
    from pyspark.sql import functions as F

    df = spark.read.option("header", True).csv(str(csv_path))  # every column as text
    renamed = df.select(
        F.monotonically_increasing_id().cast("string").alias("transaction_id"),
        *[F.col(src).alias(dst) for src, dst in zip(saml_d.HEADER, RAW_FIELDS[1:], strict=True)],
        F.current_timestamp().alias("updated_at"),
        F.lit("bench").alias("_source"),
    )
    renamed.write.format("delta").mode("overwrite").save(bronze_path)
    return spark.read.format("delta").load(bronze_path).count()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    os.environ["AML_FERNET_KEYS"] = Fernet.generate_key().decode()
    os.environ["AML_TOKEN_KEY"] = Fernet.generate_key().decode()
    base = load_config()
    dataset = base.path("var/bench/data") / f"saml_d-{args.rows}-{args.seed}"
    if not (dataset / "manifest.json").is_file():
        generate(dataset, rows=args.rows, seed=args.seed)
    scratch = Path(tempfile.mkdtemp(prefix="aml-bench-silver-"))
    spark = build_session(base, "bench-silver")
    try:
        bronze_lake = scratch / "bronze-lake"
        bronze_path = f"{bronze_lake}/bronze/transactions"
        rows = make_bronze(spark, dataset / "transactions.csv", bronze_path)
        best: dict[bool, float] = {}
        for round_no in range(args.repeat):
            for encrypt in (True, False) if round_no % 2 == 0 else (False, True):
                lake = scratch / f"lake-{encrypt}-{round_no}"
                (lake / "bronze").mkdir(parents=True)
                os.symlink(bronze_path, lake / "bronze" / "transactions")
                config = base.with_lake(lake)
                started = time.perf_counter()
                run = silver_job.run(spark, config, full_refresh=True, encrypt=encrypt)
                seconds = time.perf_counter() - started
                assert run.rows_read == rows
                best[encrypt] = min(best.get(encrypt, seconds), seconds)
                print(f"round {round_no} encrypt={encrypt}: {seconds:.1f}s", flush=True)
    finally:
        spark.stop()
        shutil.rmtree(scratch, ignore_errors=True)
    with_enc, without = rows / best[True], rows / best[False]
    result = {
        "rows": rows,
        "seconds_with_encryption": round(best[True], 2),
        "seconds_without_encryption": round(best[False], 2),
        "rows_per_second_with": round(with_enc),
        "rows_per_second_without": round(without),
        "ratio_with_over_without": round(with_enc / without, 3),
        "repeat": args.repeat,
    }
    out = PROJECT_ROOT / "var" / "bench" / "silver.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print("| rows | without encryption s | rows/s | with encryption s | rows/s | with / without |")
    print("|---:|---:|---:|---:|---:|---:|")
    print(
        f"| {rows:,} | {best[False]:.1f} | {without:,.0f} | {best[True]:.1f} | "
        f"{with_enc:,.0f} | {with_enc / without:.0%} |"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
