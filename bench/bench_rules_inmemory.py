"""What the rule pack alone costs per streaming micro-batch: scope + nine rules, in memory.

The streaming target (alerts within 5 s of their event) leaves a micro-batch a few seconds for
everything. This measures the floor of the rule step alone, with nothing else in the way: no
Kafka, no Delta reads or writes, no Great Expectations. A history of ``--history`` synthetic
silver rows (tokens only, 50,000 accounts, 2,500 events per second of event time) is held in
memory; each of ``--batches`` micro-batches of ``--batch`` new rows is added to it, the scope is
built (:func:`aml.gold.scope.build_scope`, the streaming job's own) and the enabled rules are
evaluated over the scoped subjects (:func:`aml.gold.evaluation.evaluate`), counting the hits.

Usage::

    .venv/bin/python bench/bench_rules_inmemory.py [--history 200000] [--batch 2500] [--batches 5]

Prints one line per micro-batch and a markdown table; writes ``var/bench/rules_inmemory.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import time

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from aml.config import PROJECT_ROOT, load_config
from aml.gold import evaluation, rulepack, scope
from aml.spark import build_session

ACCOUNTS = 50_000
RATE = 2_500  # events per second of event time


def synthetic_silver(spark: SparkSession, first: int, last: int) -> DataFrame:
    """Silver-shaped rows ``first..last-1`` (the columns the rules read; tokens, no PII)."""
    row = spark.range(first, last)

    def token(multiplier: int, offset: int) -> Column:
        return F.concat(F.lit("t"), ((F.col("id") * multiplier + offset) % ACCOUNTS).cast("string"))

    return row.select(
        F.col("id").alias("transaction_id"),
        F.timestamp_seconds(F.lit(1_700_000_000) + F.col("id") / RATE).alias("event_ts"),
        ((F.col("id") * 7919) % 2_000_000 / 100).cast("decimal(14,2)").alias("amount"),
        F.when(F.col("id") % 5 == 0, "Cash Deposit").otherwise("Cheque").alias("payment_type"),
        (F.col("id") % 5 == 0).alias("is_cash"),
        token(31, 0).alias("sender_account_token"),
        token(17, 7).alias("receiver_account_token"),
        F.lit("UK").alias("sender_bank_location"),
        F.lit("UK").alias("receiver_bank_location"),
        F.lit(False).alias("is_high_risk_jurisdiction"),
        F.lit(False).alias("is_fatf_blacklisted"),
        F.lit(False).alias("sender_is_pep"),
        F.lit("LOW").alias("sender_customer_risk_rating"),
        F.lit(False).alias("receiver_is_pep"),
        F.lit("LOW").alias("receiver_customer_risk_rating"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--history", type=int, default=200_000)
    parser.add_argument("--batch", type=int, default=2_500)
    parser.add_argument("--batches", type=int, default=5)
    args = parser.parse_args(argv)
    config = load_config()
    spark = build_session(config, "bench-rules-inmemory")
    pack = rulepack.load(config)
    lineage = evaluation.Lineage(1, "bench", dt.datetime(2026, 1, 1))
    state = synthetic_silver(spark, 0, args.history).localCheckpoint()
    results = []
    position = args.history
    for n in range(args.batches):
        started = time.perf_counter()
        new = synthetic_silver(spark, position, position + args.batch).localCheckpoint()
        state = state.unionByName(new)
        scope_df = scope.build_scope(new, state, pack).localCheckpoint()
        scoped = time.perf_counter()
        hits = evaluation.evaluate(spark, state, pack, lineage, scope_df).count()
        done = time.perf_counter()
        results.append(
            {
                "batch": n,
                "scope_rows": scope_df.count(),
                "scope_s": round(scoped - started, 2),
                "evaluate_s": round(done - scoped, 2),
                "hits": hits,
            }
        )
        print(json.dumps(results[-1]), flush=True)
        position += args.batch
    spark.stop()
    out = PROJECT_ROOT / "var" / "bench" / "rules_inmemory.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps({**vars(args), "rules": len(pack.enabled), "batches": results}, indent=2)
    )
    print("\n| micro-batch | new rows | history rows | scope rows | scope s | rules s | hits |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        history = args.history + r["batch"] * args.batch
        print(f"| {r['batch']} | {args.batch:,} | {history:,} | {r['scope_rows']:,} | "
              f"{r['scope_s']} | {r['evaluate_s']} | {r['hits']:,} |")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
