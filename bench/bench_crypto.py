"""Benchmark of field encryption: rows/s of ``with_encrypted`` against a plain pass-through.

One Spark session, one run:

1. write N rows (``transaction_id``, two 10-digit account strings drawn from a population of
   ``--accounts`` in random order, an amount) to Parquet, untimed;
2. time, ``--reps`` times in rotating order, the same read -> transform -> Parquet write with
   these transforms: ``passthrough`` (none), ``tokenize`` (``with_tokenized`` on both
   accounts: native HMAC), ``encrypt`` (``with_encrypted`` on both: Arrow UDF, Fernet once per
   distinct value of a batch) and, with ``--variants``, ``encrypt_no_dedup`` (the same UDF
   encrypting every value) and ``encrypt_pandas`` (a pandas UDF with ``Series.map``);
3. report the best time of each as rows/s and as a ratio to the pass-through, plus the
   Python-side cost of one ``Fernet.encrypt`` (µs).

The best of several runs is reported because the machine may be shared: a slower run measures
the neighbours, not the code. Load averages are printed with the results.

Usage::

    .venv/bin/python bench/bench_crypto.py [--rows 1000000] [--accounts 100000] [--reps 3]

Prints a markdown table and writes ``var/bench/crypto.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import shutil
import time
import timeit
from collections.abc import Callable

import pandas as pd
import pyarrow as pa
from cryptography.fernet import Fernet
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from aml.config import PROJECT_ROOT, load_config
from aml.crypto.columns import with_encrypted, with_tokenized
from aml.crypto.keys import Keyring, generate_keyring
from aml.spark import build_session

log = logging.getLogger("bench.crypto")
ACCOUNTS = ["sender_account", "receiver_account"]


def _plain_arrow(key: bytes) -> Callable[[pa.Array], pa.Array]:
    def encrypt_batch(values: pa.Array) -> pa.Array:
        fernet = Fernet(key)
        return pa.array(
            [
                None if v is None else fernet.encrypt(v.encode()).decode()
                for v in values.to_pylist()
            ],
            type=pa.string(),
        )

    return encrypt_batch


def _pandas_udf(key: bytes):  # noqa: ANN202 - a pandas UDF
    def encrypt_series(s: pd.Series) -> pd.Series:
        fernet = Fernet(key)
        return s.map(lambda v: None if v is None else fernet.encrypt(v.encode()).decode())

    return F.pandas_udf(encrypt_series, StringType())


def transforms(keyring: Keyring, variants: bool) -> dict[str, Callable[[DataFrame], DataFrame]]:
    key = keyring.fernet_key_bytes[0]
    out: dict[str, Callable[[DataFrame], DataFrame]] = {
        "passthrough": lambda df: df,
        "tokenize": lambda df: with_tokenized(df, ACCOUNTS, keyring.token_key),
        "encrypt": lambda df: with_encrypted(df, ACCOUNTS, keyring),
    }
    if variants:
        plain = F.arrow_udf(_plain_arrow(key), StringType())
        pandas = _pandas_udf(key)
        out["encrypt_no_dedup"] = lambda df: df.select(
            "transaction_id", *[plain(c).alias(f"{c}_enc") for c in ACCOUNTS], "amount"
        )
        out["encrypt_pandas"] = lambda df: df.select(
            "transaction_id", *[pandas(c).alias(f"{c}_enc") for c in ACCOUNTS], "amount"
        )
    return out


def _account(salt: str, population: int):  # noqa: ANN202 - a Column
    """A 10-digit account number from a population, in random order (hash of the row id)."""
    drawn = F.pmod(F.xxhash64("id", F.lit(salt)), F.lit(population))
    return (F.lit(1_000_000_000) + drawn).cast("string")


def fernet_us_per_value(n: int = 20000) -> float:
    fernet = Fernet(Fernet.generate_key())
    return timeit.timeit(lambda: fernet.encrypt(b"4470123456"), number=n) / n * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--accounts", type=int, default=100_000, help="distinct accounts")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--variants", action="store_true", help="also time the alternatives")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    config = load_config()
    work = PROJECT_ROOT / "var" / "bench" / "crypto"
    shutil.rmtree(work, ignore_errors=True)
    spark = build_session(config, "aml-bench-crypto", {"spark.ui.enabled": "false"})
    source = str(work / "source")
    (
        spark.range(args.rows, numPartitions=4)
        .select(
            F.col("id").alias("transaction_id"),
            _account("s", args.accounts).alias("sender_account"),
            _account("r", args.accounts).alias("receiver_account"),
            (F.col("id") % 100_000 / 7).alias("amount"),
        )
        .write.parquet(source)
    )
    keyring = generate_keyring("bench")
    steps = transforms(keyring, args.variants)
    best: dict[str, float] = {}
    load_before = os.getloadavg()
    names = list(steps)
    for name in names:  # warm-up: JIT, Python workers, on a small slice (untimed)
        steps[name](spark.read.parquet(source).limit(20_000)).write.mode("overwrite").parquet(
            str(work / "warmup")
        )
    for rep in range(args.reps):
        order = names[rep % len(names) :] + names[: rep % len(names)]
        for name in order:
            t = time.perf_counter()
            steps[name](spark.read.parquet(source)).write.mode("overwrite").parquet(
                str(work / name)
            )
            seconds = time.perf_counter() - t
            log.info("rep %d %-17s %6.2f s", rep + 1, name, seconds)
            best[name] = min(best.get(name, seconds), seconds)
    load_after = os.getloadavg()
    per_value = fernet_us_per_value()
    spark.stop()
    shutil.rmtree(work, ignore_errors=True)  # ~150 MB per transform: keep only the numbers

    base = best["passthrough"]
    results = {
        name: {
            "seconds": round(s, 2),
            "rows_per_s": round(args.rows / s),
            "ratio_to_passthrough": round(base / s, 3),
        }
        for name, s in best.items()
    }
    report = {
        "rows": args.rows,
        "accounts": args.accounts,
        "reps": args.reps,
        "results": results,
        "fernet_encrypt_us_per_value": round(per_value, 2),
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
    }
    (PROJECT_ROOT / "var" / "bench").mkdir(parents=True, exist_ok=True)
    (PROJECT_ROOT / "var" / "bench" / "crypto.json").write_text(json.dumps(report, indent=2))
    print(f"\n{args.rows:,} rows, 2 account columns, {args.accounts:,} distinct accounts, ")
    print(f"best of {args.reps}; Fernet.encrypt in Python: {per_value:.1f} µs/value\n")
    print("| transform | best s | rows/s | vs pass-through |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        print(f"| {name} | {r['seconds']} | {r['rows_per_s']:,} | {r['ratio_to_passthrough']} |")
    print(f"\nload average (1 min) before/after: {load_before[0]:.2f} / {load_after[0]:.2f}")


if __name__ == "__main__":
    main()
