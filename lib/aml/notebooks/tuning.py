"""Detection quality and a what-if threshold sweep, on the evaluation code ``aml evaluate`` uses.

The quality tables are :func:`aml.gold.evaluate.detection_metrics` over the published gold
tables. The sweep re-evaluates one rule at several values of one parameter with the rule pack's
own code: a copy of the loaded rule with the parameter changed (:func:`rulepack.with_params`),
evaluated by :func:`aml.gold.evaluation.evaluate`, grouped into alerts by
:func:`aml.gold.alerts.build_alerts` and measured by the same ``detection_metrics``. Nothing is
written: the sweep's hits live in memory only, so tuning can never change what gold publishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aml.config import Config
from aml.gold import evaluate as gold_evaluate
from aml.gold import rulepack
from aml.gold.alerts import build_alerts
from aml.gold.evaluation import Lineage, evaluate
from aml.ops import utcnow

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession


def dataset_dir(config: Config, data: str = "") -> Path:
    """The generated dataset holding ``ground_truth.csv``: ``data``, else the dataset last
    loaded into the source (after ``make demo``: its demo dataset), else ``<data_dir>/saml_d``."""
    return gold_evaluate.default_dataset(config, data)


def ground_truth(spark: SparkSession, data_dir: Path) -> tuple[DataFrame, DataFrame | None]:
    """(ground truth, hard negatives or None) of the dataset and its increments."""
    gold_evaluate.check_dataset(data_dir)
    gt_df = gold_evaluate.read_label_csv(
        spark, gold_evaluate.label_files(data_dir, gold_evaluate.GROUND_TRUTH),
        gold_evaluate.GT_SCHEMA,
    )  # fmt: skip
    hn_paths = gold_evaluate.label_files(data_dir, gold_evaluate.HARD_NEGATIVES)
    hn_df = (
        gold_evaluate.read_label_csv(spark, hn_paths, gold_evaluate.HN_SCHEMA) if hn_paths else None
    )
    return gt_df, hn_df


def quality(spark: SparkSession, config: Config, data_dir: Path) -> dict[str, pd.DataFrame]:
    """``typologies`` (recall by typology) and ``rules`` (precision and volume by rule)."""
    import pandas as pd

    pack = rulepack.load(config)
    tables = gold_evaluate.read_tables(spark, config)
    gt_df, hn_df = ground_truth(spark, data_dir)
    metrics = gold_evaluate.detection_metrics(
        pack, gt_df, tables["gold.suspicious_transactions"], tables["gold.alerts"],
        tables["silver.transactions"], hn_df,
    )  # fmt: skip
    typologies = pd.DataFrame(
        [
            {k: (", ".join(v) if isinstance(v, list) else v) for k, v in row.items()}
            for row in metrics["typologies"]
            if row["rules"] and row["instances"]
        ],
        columns=[
            "laundering_type", "rules", "instances", "instances_detected", "instance_recall",
            "transactions", "transactions_detected", "transaction_recall",
        ],
    )  # fmt: skip
    rules = pd.DataFrame(
        metrics["rules"],
        columns=[
            "rule_id", "name", "enabled", "hits", "alerts", "true_positive_alerts",
            "alert_precision", "hard_negative_instances", "hard_negative_instances_hit",
        ],
    )  # fmt: skip
    return {"typologies": typologies, "rules": rules, "overall": pd.DataFrame([metrics["overall"]])}


def parse_values(text: str) -> list[Decimal]:
    """``"5000, 10000"`` -> exact decimals (the rule pack compares amounts as DECIMAL)."""
    values = [Decimal(part.strip()) for part in text.split(",") if part.strip()]
    if not values:
        raise ValueError("no threshold values given")
    return sorted(set(values))


def sweep(
    spark: SparkSession,
    config: Config,
    data_dir: Path,
    rule_id: str,
    param: str,
    values: Sequence[Decimal],
) -> pd.DataFrame:
    """Per value of ``param``: the rule's hits and alerts, and the instance recall of the
    typologies it is meant to catch, over the current silver snapshot."""
    import pandas as pd

    pack = rulepack.load(config)
    rule = pack.rule(rule_id)
    if param not in rule.params:
        raise KeyError(f"{rule_id} has no parameter {param!r}; it has {sorted(rule.params)}")
    if not rule.typologies:
        raise ValueError(f"{rule_id} targets no typology: its recall cannot be measured")
    tx_df = gold_evaluate.read_tables(spark, config)["silver.transactions"].persist()
    gt_df, _ = ground_truth(spark, data_dir)
    gt_df = gt_df.where(gt_df["laundering_type"].isin(list(rule.typologies))).persist()
    lineage = Lineage(-1, "what-if", utcnow())
    rows: list[dict[str, Any]] = []
    try:
        for value in values:
            variant = rulepack.with_params(rule, **{param: value})
            what_if = rulepack.RulePack(pack.name, pack.version, (variant,))
            hits_df = evaluate(spark, tx_df, what_if, lineage).localCheckpoint()
            alerts_df = build_alerts(hits_df, what_if, lineage)
            metrics = gold_evaluate.detection_metrics(what_if, gt_df, hits_df, alerts_df, tx_df)
            typologies = [
                t for t in metrics["typologies"] if t["laundering_type"] in rule.typologies
            ]
            instances = sum(t["instances"] for t in typologies)
            detected = sum(t["instances_detected"] for t in typologies)
            (rule_row,) = [r for r in metrics["rules"] if r["rule_id"] == rule_id]
            rows.append(
                {
                    "threshold": float(value),
                    "param_hash": variant.param_hash,
                    "hits": rule_row["hits"],
                    "alerts": rule_row["alerts"],
                    "alert_precision": rule_row["alert_precision"],
                    "instances": instances,
                    "instances_detected": detected,
                    "instance_recall": round(detected / instances, 4) if instances else None,
                }
            )
    finally:
        tx_df.unpersist()
        gt_df.unpersist()
    return pd.DataFrame(rows)
