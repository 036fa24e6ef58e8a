"""``aml evaluate``: detection quality of the rule pack against the labels and the ground truth.

Two references, kept apart because they answer different questions. The generator's
``ground_truth.csv`` groups laundering transactions into *instances* (one injected occurrence of
a typology), so it can say whether the rules meant for a typology caught it (instance and
transaction recall, ``RULES.md``). The ``is_laundering`` labels in ``silver.transactions`` judge
every alert, including those no instance explains (precision). ``hard_negatives.csv`` lists
near-miss normal patterns a named rule must not hit: the false-positive check per rule.

Everything is aggregated in Spark; only per-typology and per-rule rows reach the driver. Recall
counts only instances with at least one transaction in silver: an increment generated but not
yet ingested is not a miss (those instances are reported as ``instances_not_in_silver``), while
a quarantined transaction of an ingested instance is, because no rule could see it.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import logging
import sys
from collections.abc import Iterable, Mapping, Sequence
from itertools import chain
from pathlib import Path
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from aml import delta_io
from aml.config import Config, ConfigError, load_config
from aml.gold import evaluate_report as report
from aml.gold import rulepack
from aml.gold.rulepack import RulePack

log = logging.getLogger(__name__)
JOB = "evaluate"
GROUND_TRUTH = "ground_truth.csv"
HARD_NEGATIVES = "hard_negatives.csv"
GT_SCHEMA = "instance_id STRING, laundering_type STRING, transaction_id BIGINT"
HN_SCHEMA = "instance_id STRING, rule_id STRING, transaction_id BIGINT"
TABLES = (("silver", "transactions"), ("gold", "suspicious_transactions"), ("gold", "alerts"))


class EvaluationInputError(ConfigError):
    """A table or label file the evaluation needs is missing or malformed."""


# --- pure computations ---------------------------------------------------------------------------


def is_own_rule(
    typology: Column, rule_id: Column, rules_by_typology: Mapping[str, Sequence[str]]
) -> Column:
    """True when ``rule_id`` is one of the rules meant to catch ``typology``; false for nulls.

    A literal map rather than a join with a mapping table: the pack has a dozen rules, and the
    lookup then stays a column function the optimiser sees through.
    """
    entries = [(t, rules) for t, rules in rules_by_typology.items() if rules]
    if not entries:
        return F.lit(False)
    lookup = F.create_map(
        *chain.from_iterable((F.lit(t), F.array(*map(F.lit, r))) for t, r in entries)
    )
    return F.coalesce(F.array_contains(lookup[typology], rule_id), F.lit(False))


def filter_hit_pairs(hits_df: DataFrame) -> DataFrame:
    """Distinct ``(transaction_id, rule_id)``: a hit as RULES.md defines it, whatever the number
    of subjects it was recorded under; rows missing either are dropped."""
    return (
        hits_df.where(F.col("transaction_id").isNotNull() & F.col("rule_id").isNotNull())
        .select("transaction_id", "rule_id")
        .distinct()
    )


def typology_counts(
    gt_df: DataFrame,
    hit_pairs_df: DataFrame,
    labels_df: DataFrame,
    rules_by_typology: Mapping[str, Sequence[str]],
) -> DataFrame:
    """Per laundering type: instances (in silver / not), detected by own rules / hit by any rule,
    and the same for their transactions."""
    silver_ids_df = (
        labels_df.select("transaction_id").distinct().withColumn("is_in_silver", F.lit(True))
    )
    own = is_own_rule(F.col("laundering_type"), F.col("rule_id"), rules_by_typology)
    is_complete = (
        F.col("instance_id").isNotNull()
        & F.col("laundering_type").isNotNull()
        & F.col("transaction_id").isNotNull()
    )
    tx_df = (
        gt_df.where(is_complete)
        .join(silver_ids_df, on="transaction_id", how="left")
        .join(hit_pairs_df, on="transaction_id", how="left")
        .groupBy("laundering_type", "instance_id", "transaction_id")
        .agg(
            F.max(F.coalesce("is_in_silver", F.lit(False))).alias("is_in_silver"),
            F.max(own).alias("is_hit_by_own_rule"),
            F.max(F.col("rule_id").isNotNull()).alias("is_hit_by_any_rule"),
        )
    )
    instance_df = tx_df.groupBy("laundering_type", "instance_id").agg(
        F.max("is_in_silver").alias("is_in_silver"),
        F.count("*").alias("transactions"),
        F.sum(F.col("is_hit_by_own_rule").cast("long")).alias("transactions_detected"),
        F.sum(F.col("is_hit_by_any_rule").cast("long")).alias("transactions_hit_by_any_rule"),
        F.max("is_hit_by_own_rule").alias("is_detected"),
        F.max("is_hit_by_any_rule").alias("is_hit_by_any_rule"),
    )

    def in_scope(value: Column) -> Column:
        return F.sum(F.when(F.col("is_in_silver"), value.cast("long")).otherwise(0))

    return instance_df.groupBy("laundering_type").agg(
        in_scope(F.lit(1)).alias("instances"),
        F.sum(F.when(F.col("is_in_silver"), 0).otherwise(1)).alias("instances_not_in_silver"),
        in_scope(F.col("is_detected")).alias("instances_detected"),
        in_scope(F.col("is_hit_by_any_rule")).alias("instances_hit_by_any_rule"),
        in_scope(F.col("transactions")).alias("transactions"),
        in_scope(F.col("transactions_detected")).alias("transactions_detected"),
        in_scope(F.col("transactions_hit_by_any_rule")).alias("transactions_hit_by_any_rule"),
    )


def alert_rules(alerts_df: DataFrame) -> DataFrame:
    """``alert_id, rule_id``: the rules each alert rests on. A v1 alert has one rule; a scored
    (v2) alert has every rule of its ``score_breakdown``."""
    if "score_breakdown" in alerts_df.columns:
        return alerts_df.select(
            "alert_id", F.explode("score_breakdown.rule_id").alias("rule_id")
        ).distinct()
    return alerts_df.select("alert_id", "rule_id")


def alert_outcomes(alerts_df: DataFrame, labels_df: DataFrame) -> DataFrame:
    """``alert_id, rule_id, is_true_positive`` (a row per alert and rule it rests on): true when
    any of its transactions is labelled laundering; an alert with no (or unknown) transactions
    counts as a false positive."""
    labelled_df = labels_df.select(
        "transaction_id", (F.col("is_laundering") == 1).alias("is_laundering_tx")
    )
    outcomes_df = (
        alerts_df.where(F.col("alert_id").isNotNull())
        .select("alert_id", F.explode_outer("transaction_ids").alias("transaction_id"))
        .join(labelled_df, on="transaction_id", how="left")
        .groupBy("alert_id")
        .agg(F.coalesce(F.max("is_laundering_tx"), F.lit(False)).alias("is_true_positive"))
    )
    return alert_rules(alerts_df).join(outcomes_df, on="alert_id", how="inner")


def alert_totals(outcomes_df: DataFrame) -> dict[str, int]:
    """Alerts and true-positive alerts, each alert counted once."""
    row = (
        outcomes_df.groupBy("alert_id")
        .agg(F.max("is_true_positive").alias("tp"))
        .agg(F.count("*").alias("alerts"), F.sum(F.col("tp").cast("long")).alias("tp"))
        .first()
    )
    return {"alerts": int(row["alerts"] or 0), "true_positive_alerts": int(row["tp"] or 0)}


def hard_negatives_alerted(
    hn_df: DataFrame, alerts_df: DataFrame, labels_df: DataFrame
) -> dict[str, int]:
    """Hard-negative instances in silver, and how many any alert's evidence touches."""
    silver_ids_df = labels_df.select("transaction_id").distinct()
    evidence_df = (
        alerts_df.select(F.explode("transaction_ids").alias("transaction_id"))
        .distinct()
        .withColumn("is_alerted", F.lit(True))
    )
    row = (
        hn_df.where(F.col("instance_id").isNotNull())
        .join(silver_ids_df, on="transaction_id", how="left_semi")
        .join(evidence_df, on="transaction_id", how="left")
        .groupBy("instance_id")
        .agg(F.max(F.coalesce("is_alerted", F.lit(False))).alias("is_alerted"))
        .agg(F.count("*").alias("n"), F.sum(F.col("is_alerted").cast("long")).alias("alerted"))
        .first()
    )
    return {"instances": int(row["n"] or 0), "instances_alerted": int(row["alerted"] or 0)}


def rule_counts(hit_pairs_df: DataFrame, outcomes_df: DataFrame) -> DataFrame:
    """Per rule id: hits, alerts and true-positive alerts (a rule with neither is absent)."""
    hits_df = hit_pairs_df.groupBy("rule_id").agg(F.count("*").alias("hits"))
    alerts_df = outcomes_df.groupBy("rule_id").agg(
        F.count("*").alias("alerts"),
        F.sum(F.col("is_true_positive").cast("long")).alias("true_positive_alerts"),
    )
    return hits_df.join(alerts_df, on="rule_id", how="full_outer").na.fill(0)


def hard_negative_counts(
    hn_df: DataFrame, hit_pairs_df: DataFrame, labels_df: DataFrame
) -> DataFrame:
    """Per rule id: hard-negative instances in silver, and how many the named rule hit."""
    silver_ids_df = (
        labels_df.select("transaction_id").distinct().withColumn("is_in_silver", F.lit(True))
    )
    marked_hits_df = hit_pairs_df.withColumn("is_hit", F.lit(True))
    instance_df = (
        hn_df.where(F.col("instance_id").isNotNull() & F.col("rule_id").isNotNull())
        .join(silver_ids_df, on="transaction_id", how="left")
        .join(marked_hits_df, on=["transaction_id", "rule_id"], how="left")
        .groupBy("rule_id", "instance_id")
        .agg(
            F.max(F.coalesce("is_in_silver", F.lit(False))).alias("is_in_silver"),
            F.max(F.coalesce("is_hit", F.lit(False))).alias("is_hit"),
        )
        .where(F.col("is_in_silver"))
    )
    return instance_df.groupBy("rule_id").agg(
        F.count("*").alias("hard_negative_instances"),
        F.sum(F.col("is_hit").cast("long")).alias("hard_negative_instances_hit"),
    )


def label_view(labels_df: DataFrame, hit_pairs_df: DataFrame) -> DataFrame:
    """One row: silver transactions, how many were hit, laundering ones, and laundering ones hit."""
    hit_ids_df = hit_pairs_df.select("transaction_id").distinct().withColumn("is_hit", F.lit(True))
    is_laundering = F.coalesce(F.col("is_laundering") == 1, F.lit(False))
    is_hit = F.coalesce(F.col("is_hit"), F.lit(False))
    return labels_df.join(hit_ids_df, on="transaction_id", how="left").agg(
        F.count("*").alias("transactions"),
        F.sum(is_hit.cast("long")).alias("transactions_hit"),
        F.sum(is_laundering.cast("long")).alias("laundering_transactions"),
        F.sum((is_laundering & is_hit).cast("long")).alias("laundering_transactions_hit"),
    )


def _by_key(df: DataFrame, key: str) -> dict[str, dict[str, int]]:
    """Collects a small aggregate (a row per typology or rule) as ``{key: {count: n}}``."""
    return {
        row[key]: {name: int(value or 0) for name, value in row.asDict().items() if name != key}
        for row in df.collect()
    }


def detection_metrics(
    pack: RulePack,
    gt_df: DataFrame,
    hits_df: DataFrame,
    alerts_df: DataFrame,
    labels_df: DataFrame,
    hn_df: DataFrame | None = None,
) -> dict[str, Any]:
    """The report's numbers (without provenance) from the inputs; ``hn_df`` is optional.

    Args:
        pack: the rule pack, for the typology mapping, names and parameter hashes.
        gt_df: ``instance_id, laundering_type, transaction_id`` (ground_truth.csv).
        hits_df: ``transaction_id, rule_id`` at least (gold.suspicious_transactions).
        alerts_df: ``alert_id, rule_id, transaction_ids`` (gold.alerts).
        labels_df: ``transaction_id, is_laundering`` (silver.transactions).
        hn_df: ``instance_id, rule_id, transaction_id`` (hard_negatives.csv), if there is one.

    The distinct hits are cached for the duration: four aggregations read them, and recomputing
    the distinct over ``gold.suspicious_transactions`` each time would cost more than the memory.
    """
    hit_pairs_df = filter_hit_pairs(hits_df).persist()
    # a scored pack detects through alerts: a hit below its period's threshold is a signal only
    detected_df = (
        filter_hit_pairs(hits_df.where(F.col("alert_id").isNotNull())).persist()
        if pack.is_scored
        else hit_pairs_df
    )
    outcomes_df = alert_outcomes(alerts_df, labels_df).persist()
    try:
        by_typology = typology_counts(gt_df, detected_df, labels_df, report.coverage(pack))
        typologies = _by_key(by_typology, "laundering_type")
        per_rule = _by_key(rule_counts(hit_pairs_df, outcomes_df), "rule_id")
        negatives = any_negatives = None
        if hn_df is not None:
            if not pack.is_scored:
                negatives = _by_key(hard_negative_counts(hn_df, hit_pairs_df, labels_df), "rule_id")
            any_negatives = hard_negatives_alerted(hn_df, alerts_df, labels_df)
        labels = {
            k: int(v or 0) for k, v in label_view(labels_df, detected_df).first().asDict().items()
        }
        totals = alert_totals(outcomes_df)
    finally:
        hit_pairs_df.unpersist()
        detected_df.unpersist()
        outcomes_df.unpersist()
    return {
        "overall": report.overall(labels, per_rule, totals, any_negatives),
        "typologies": report.typology_rows(typologies, pack),
        "rules": report.rule_rows(pack, per_rule, negatives),
    }


# --- I/O ---------------------------------------------------------------------------------------


def label_files(data_dir: Path, name: str) -> list[Path]:
    """``name`` in the dataset folder and in each complete increment, oldest first."""
    from aml.generate.increment import increment_dirs

    files = [data_dir / name] + [d / name for d in increment_dirs(data_dir)]
    return [path for path in files if path.is_file()]


def read_label_csv(spark: SparkSession, paths: Iterable[Path], schema: str) -> DataFrame:
    """The generator's small label files, read on the driver: on a cluster the executors need
    not see the dataset folder, and a few thousand rows make no case for a distributed read."""
    rows = []
    for path in paths:
        with path.open(newline="", encoding="utf-8") as fh:
            reader = csv.reader(fh)
            next(reader, None)
            try:
                rows += [(a or None, b or None, int(c) if c else None) for a, b, c in reader]
            except ValueError as exc:
                raise EvaluationInputError(f"{path} line {reader.line_num}: {exc}") from exc
    return spark.createDataFrame(rows, schema)


def read_labels(spark: SparkSession, data_dir: Path) -> tuple[DataFrame, DataFrame | None]:
    """(ground truth, hard negatives or None) of the dataset and its increments."""
    check_dataset(data_dir)
    gt_df = read_label_csv(spark, label_files(data_dir, GROUND_TRUTH), GT_SCHEMA)
    hn_paths = label_files(data_dir, HARD_NEGATIVES)
    hn_df = read_label_csv(spark, hn_paths, HN_SCHEMA) if hn_paths else None
    return gt_df, hn_df


def dataset_info(data_dir: Path) -> dict[str, Any]:
    """Provenance from manifest.json (base and increments); unknown values stay ``None``."""
    from aml.generate.increment import increment_dirs

    def manifest(folder: Path) -> dict[str, Any]:
        path = folder / "manifest.json"
        return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}

    base = manifest(data_dir)
    increments = [manifest(d) for d in increment_dirs(data_dir)]
    return {
        "path": str(data_dir),
        "seed": base.get("seed"),
        "rows": base.get("rows"),
        "generator_version": base.get("generator_version"),
        "increments": len(increments),
        "increment_rows": sum(int(m.get("rows", 0)) for m in increments),
    }


def default_dataset(config: Config, data: Path | str | None = None) -> Path:
    """The dataset whose ground truth judges the lake: ``data`` when given, else the dataset
    last loaded into the source (what ``aml demo`` and ``aml load`` ran), else
    ``<data_dir>/saml_d``."""
    from aml.sources.loader import loaded_dataset

    if data:
        return Path(data)
    return loaded_dataset(config) or config.data_dir / "saml_d"


def check_dataset(data_dir: Path) -> None:
    if not (data_dir / GROUND_TRUTH).is_file():
        raise EvaluationInputError(
            f"no {GROUND_TRUTH} in {data_dir}: evaluate needs a dataset made by `aml generate` "
            "(choose it with --data DIR)"
        )


def read_tables(spark: SparkSession, config: Config) -> dict[str, DataFrame]:
    """The Delta tables by ``layer.table``; a missing one raises :class:`EvaluationInputError`."""
    tables = {}
    for layer, table in TABLES:
        path = config.table_path(layer, table)
        if not delta_io.exists(spark, path):
            raise EvaluationInputError(
                f"{layer}.{table} does not exist at {path}: build the {layer} layer first"
            )
        tables[f"{layer}.{table}"] = spark.read.format("delta").load(path)
    return tables


def evaluate(spark: SparkSession, config: Config, data_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Computes the detection report, writes ``detection.md`` and ``detection.json`` into
    ``out_dir`` and returns the JSON dict.

    Raises:
        EvaluationInputError: the ground truth or one of the tables is missing.
    """
    check_dataset(data_dir)
    pack = rulepack.load(config)
    tables = read_tables(spark, config)
    gt_df, hn_df = read_labels(spark, data_dir)
    metrics = detection_metrics(
        pack,
        gt_df,
        tables["gold.suspicious_transactions"],
        tables["gold.alerts"],
        tables["silver.transactions"],
        hn_df,
    )
    result = {
        "generated_at": dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat(),
        "dataset": dataset_info(data_dir),
        "rule_pack": {"name": pack.name, "version": pack.version, "scored": pack.is_scored},
        **metrics,
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "detection.json").write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    (out_dir / "detection.md").write_text(report.render_markdown(result), encoding="utf-8")
    log.info("wrote %s and %s", out_dir / "detection.md", out_dir / "detection.json")
    return result


# --- command -----------------------------------------------------------------------------------


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data",
        type=Path,
        default=None,
        help="dataset folder with ground_truth.csv (default: the dataset last loaded, else "
        "<data_dir>/saml_d)",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=None,
        help="folder for detection.md and detection.json (default: <run_dir>/reports)",
    )


def execute(args: argparse.Namespace) -> int:
    from aml.spark import build_session

    try:
        config = load_config(args.env)
        data_dir = default_dataset(config, args.data)
        check_dataset(data_dir)  # before paying for a session
        spark = build_session(config, f"aml-{JOB}")
        result = evaluate(spark, config, data_dir, args.out or config.run_dir / "reports")
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    print(report.render_markdown(result), end="")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Adds ``aml evaluate`` to the ``aml`` parser."""
    parser = subparsers.add_parser(
        "evaluate",
        help="detection quality of the rule pack against the labels and the ground truth",
        description=__doc__.splitlines()[0],
    )
    add_arguments(parser)
    parser.set_defaults(func=execute)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point for ``spark-submit`` (a ``jobs/evaluate.py`` would call it)."""
    from aml.cli import job_main

    return job_main(JOB, __doc__.splitlines()[0], add_arguments, execute, argv)


if __name__ == "__main__":
    sys.exit(main())
