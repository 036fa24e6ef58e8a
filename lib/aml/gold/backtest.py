"""``aml backtest``: a candidate rule pack against the published one, side by side, in memory.

Shadow mode for rule changes. Both packs are evaluated over the same silver snapshot (optionally
one period of it) with the gold job's own code (:mod:`aml.gold.changes` for v1,
:mod:`aml.gold.scored_changes` for scored packs) but nothing is staged, validated or published:
the hits and alerts live in memory and only the detection report is written. For scored packs the
report adds a precision/recall curve over the alert threshold, computed from the same period
scores, so a reviewer sees what a different threshold would have raised before changing it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aml import delta_io, frames
from aml.config import Config, ConfigError, load_config
from aml.gold import changes as gold_changes
from aml.gold import evaluate as gold_evaluate
from aml.gold import rulepack, scored_changes
from aml.gold import suppressions as gold_suppressions
from aml.gold.evaluate_report import coverage, ratio
from aml.gold.evaluation import Lineage
from aml.gold.rulepack import RulePack
from aml.gold.scoring import period_start

log = logging.getLogger(__name__)
JOB = "backtest"


def silver_snapshot(
    spark: SparkSession, config: Config, start: dt.date | None, end: dt.date | None
) -> tuple[DataFrame, int]:
    """Silver (its newest version) restricted to ``[start, end]`` event dates, and the version."""
    path = config.table_path("silver", "transactions")
    if not delta_io.exists(spark, path):
        raise gold_evaluate.EvaluationInputError("silver.transactions does not exist yet")
    version = delta_io.current_version(spark, path)
    tx_df = spark.read.format("delta").option("versionAsOf", version).load(path)
    if start is not None:
        tx_df = tx_df.where(F.col("event_date") >= F.lit(start))
    if end is not None:
        tx_df = tx_df.where(F.col("event_date") <= F.lit(end))
    return tx_df, version


def run_pack(
    spark: SparkSession, config: Config, tx_df: DataFrame, pack: RulePack, version: int
) -> tuple[DataFrame, DataFrame]:
    """(hits, alerts) of ``pack`` over ``tx_df``, cached, as a full gold build makes them."""
    lineage = Lineage(
        version, f"backtest-v{pack.version}", dt.datetime.now(dt.UTC).replace(microsecond=0)
    )
    if pack.is_scored:
        allow_list = gold_suppressions.load(config)
        changes = scored_changes.full(spark, tx_df, pack, lineage, allow_list)
    else:
        changes = gold_changes.full(spark, tx_df, pack, lineage)
    hits_df = changes.post_hits_df.persist()
    alerts_df = changes.alerts_df.drop(gold_changes.DELETE).persist()
    return hits_df, alerts_df


def threshold_curve(
    hits_df: DataFrame, pack: RulePack, gt_df: DataFrame, labels_df: DataFrame
) -> list[dict[str, Any]]:
    """Alerts, precision and instance recall had the alert threshold been each of a range of
    values (the pack's own among them), from the scored hits of one evaluation."""
    active_df = hits_df.where(~F.col("is_suppressed")).withColumn(
        "period_start", period_start(F.col("event_ts"), pack.scoring)
    )
    keys = ["subject_token", "period_start"]
    laundering_df = labels_df.where(F.col("is_laundering") == 1).select("transaction_id")
    tp_df = (
        active_df.join(laundering_df, on="transaction_id", how="left_semi")
        .select(*keys)
        .distinct()
        .withColumn("is_tp", F.lit(True))
    )
    periods_df = (
        active_df.groupBy(*keys, "rule_id")
        .agg(F.max("score").alias("score"))
        .groupBy(*keys)
        .agg(F.sum("score").alias("score"))
        .join(tp_df, on=keys, how="left")
        .withColumn("is_tp", F.coalesce("is_tp", F.lit(False)))
    ).persist()
    by_score = periods_df.groupBy("score", "is_tp").count().collect()
    own = coverage(pack)
    own_rules = F.create_map(
        *[x for t, rules in own.items() for x in (F.lit(t), F.array(*map(F.lit, rules)))]
    ) if own else None  # fmt: skip
    best = []
    if own_rules is not None:
        best = (
            gt_df.join(active_df.select("transaction_id", "rule_id", *keys), "transaction_id")
            .where(F.array_contains(own_rules[F.col("laundering_type")], F.col("rule_id")))
            .join(periods_df.select(*keys, "score"), on=keys, how="inner")
            .groupBy("laundering_type", "instance_id")
            .agg(F.max("score").alias("best"))
            .collect()
        )
    periods_df.unpersist()
    instances = (
        gt_df.join(labels_df.select("transaction_id"), "transaction_id", "left_semi")
        .select("laundering_type", "instance_id")
        .distinct()
        .groupBy("laundering_type")
        .count()
        .collect()
    )
    totals = {row["laundering_type"]: int(row["count"]) for row in instances}
    # every distinct period score is a threshold that changes the outcome; nothing in between does
    thresholds = sorted({int(r["score"]) for r in by_score} | {pack.scoring.alert_threshold})
    curve = []
    for threshold in thresholds:
        alerts = sum(int(r["count"]) for r in by_score if r["score"] >= threshold)
        tps = sum(int(r["count"]) for r in by_score if r["score"] >= threshold and r["is_tp"])
        detected: dict[str, int] = {}
        for row in best:
            if row["best"] >= threshold:
                detected[row["laundering_type"]] = detected.get(row["laundering_type"], 0) + 1
        recalls = {t: ratio(detected.get(t, 0), n) for t, n in totals.items() if t in own}
        all_instances = sum(n for t, n in totals.items() if t in own)
        curve.append(
            {
                "threshold": threshold,
                "alerts": alerts,
                "true_positive_alerts": tps,
                "precision": ratio(tps, alerts),
                "instance_recall": ratio(sum(detected.values()), all_instances),
                "min_typology_recall": min(
                    (r for r in recalls.values() if r is not None), default=None
                ),
                "is_current": threshold == pack.scoring.alert_threshold,
            }
        )
    return curve


def backtest(
    spark: SparkSession,
    config: Config,
    packs: Sequence[tuple[str, RulePack]],
    data_dir: Path,
    start: dt.date | None = None,
    end: dt.date | None = None,
) -> dict[str, Any]:
    """The detection report of each ``(label, pack)`` over the same silver snapshot."""
    gt_df, hn_df = gold_evaluate.read_labels(spark, data_dir)
    tx_df, version = silver_snapshot(spark, config, start, end)
    # read by every rule's SQL: held, not persisted (aml.frames)
    tx_df = frames.materialise(tx_df)
    results = []
    try:
        for label, pack in packs:
            log.info("backtest: evaluating %s (%s version %s)", label, pack.name, pack.version)
            hits_df, alerts_df = run_pack(spark, config, tx_df, pack, version)
            try:
                metrics = gold_evaluate.detection_metrics(
                    pack, gt_df, hits_df, alerts_df, tx_df, hn_df
                )
                curve = threshold_curve(hits_df, pack, gt_df, tx_df) if pack.is_scored else None
            finally:
                hits_df.unpersist()
                alerts_df.unpersist()
            results.append(
                {
                    "label": label,
                    "rule_pack": {
                        "name": pack.name,
                        "version": pack.version,
                        "scored": pack.is_scored,
                        "fingerprint": rulepack.fingerprint(pack),
                    },
                    **metrics,
                    "threshold_curve": curve,
                }
            )
    finally:
        frames.release(tx_df)
    return {
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "dataset": gold_evaluate.dataset_info(data_dir),
        "silver_version": version,
        "period": {
            "from": start.isoformat() if start else None,
            "to": end.isoformat() if end else None,
        },
        "packs": results,
    }


# --- command -----------------------------------------------------------------------------------


def _date(text: str) -> dt.date:
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not a date (YYYY-MM-DD): {text!r}") from exc


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pack", required=True, help="candidate pack: v1, v2 or a path under conf/ (or absolute)"
    )
    parser.add_argument(
        "--against",
        default=None,
        help="the pack to compare with (default: the environment's published pack)",
    )
    parser.add_argument(
        "--data", type=Path, default=None,
        help="dataset folder with ground truth (default: the dataset last loaded)",
    )  # fmt: skip
    parser.add_argument("--from", dest="start", type=_date, default=None, help="first event date")
    parser.add_argument("--to", dest="end", type=_date, default=None, help="last event date")
    parser.add_argument(
        "--out", type=Path, default=None, help="folder for backtest.md and backtest.json"
    )


def execute(args: argparse.Namespace) -> int:
    from aml.gold.backtest_report import render_markdown
    from aml.spark import build_session

    try:
        config = load_config(args.env)
        data_dir = gold_evaluate.default_dataset(config, args.data)
        gold_evaluate.check_dataset(data_dir)  # before paying for a session
        candidate = rulepack.load(config, args.pack)
        published = rulepack.load(config, args.against)
        if args.start and args.end and args.start > args.end:
            raise ConfigError("--from is after --to")
        spark = build_session(config, f"aml-{JOB}")
        packs = [(f"candidate ({args.pack})", candidate)]
        packs.append((f"published ({args.against or 'environment'})", published))
        result = backtest(spark, config, packs, data_dir, args.start, args.end)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    out = args.out or config.run_dir / "reports"
    out.mkdir(parents=True, exist_ok=True)
    markdown = render_markdown(result)
    (out / "backtest.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out / "backtest.md").write_text(markdown, encoding="utf-8")
    print(markdown, end="")
    log.info("wrote %s and %s (nothing was published)", out / "backtest.md", out / "backtest.json")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``aml backtest`` to the ``aml`` parser."""
    parser = subparsers.add_parser(
        "backtest",
        help="a candidate rule pack against the published one, side by side (publishes nothing)",
        description=__doc__.splitlines()[0],
    )
    add_arguments(parser)
    parser.set_defaults(func=execute)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jobs/backtest.py`` (spark-submit)."""
    from aml.cli import job_main

    return job_main(JOB, __doc__.splitlines()[0], add_arguments, execute, argv)


if __name__ == "__main__":
    sys.exit(main())
