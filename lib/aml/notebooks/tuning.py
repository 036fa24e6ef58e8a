"""Detection quality, a backtest and a what-if sweep, on the evaluation code ``aml evaluate`` uses.

The quality tables are :func:`aml.gold.evaluate.detection_metrics` over the published gold
tables. The backtest is :func:`aml.gold.backtest.backtest` (``aml backtest``): a candidate pack
and the published one over the same silver snapshot, shaped into side-by-side tables.

The sweep re-evaluates one rule at several values of one parameter with the rule pack's own code,
on a copy of the loaded rule with the parameter changed (:func:`rulepack.with_params`). For a v1
pack the rule is evaluated alone (:func:`aml.gold.evaluation.evaluate`, alerts by
:func:`aml.gold.alerts.build_alerts`): its alerts are its own. For a scored pack a rule's hit is
only a signal, so the whole pack is re-evaluated with the variant in place of the rule
(:func:`aml.gold.backtest.run_pack`, as a full gold build scores and consolidates it). Both are
measured by the same ``detection_metrics``. Nothing is written: hits and alerts live in memory
only, so tuning can never change what gold publishes.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aml import frames
from aml.config import Config
from aml.gold import backtest as gold_backtest
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
    return gold_evaluate.read_labels(spark, data_dir)


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


# --- backtest: a candidate pack against the published one ------------------------------------

CURVE_COLUMNS = [
    "threshold", "alerts", "true_positive_alerts", "precision", "instance_recall",
    "min_typology_recall", "is_current",
]  # fmt: skip


def backtest(
    spark: SparkSession, config: Config, data_dir: Path, candidate: str = "v1"
) -> dict[str, pd.DataFrame]:
    """``aml backtest --pack <candidate>`` as tables (see :func:`backtest_tables`): the
    candidate (``v1``, ``v2`` or a path under ``conf/``) and the environment's published pack,
    over the same silver snapshot, in memory."""
    published = rulepack.load(config)
    labels = (f"candidate ({candidate})", f"published (v{published.version})")
    packs = [(labels[0], rulepack.load(config, candidate)), (labels[1], published)]
    result = gold_backtest.backtest(spark, config, packs, data_dir)
    return backtest_tables(result, published=labels[1])


def backtest_tables(result: dict[str, Any], published: str) -> dict[str, pd.DataFrame]:
    """The backtest's packs side by side, one column per pack (named by its label):

    * ``overall``: a row per overall metric (``metric`` then the packs' values; a metric one
      pack lacks, such as the hard-negative ones without a hard_negatives.csv, is null);
    * ``typologies``: instance recall per typology with instances that a pack covers (null for
      a pack with no rule for it);
    * ``curve``: the ``published`` pack's threshold curve (empty when it is not scored).
    """
    import pandas as pd

    packs = result["packs"]
    labels = [p["label"] for p in packs]
    metrics = list(dict.fromkeys(key for p in packs for key in p["overall"]))
    overall = pd.DataFrame(
        [[metric, *[p["overall"].get(metric) for p in packs]] for metric in metrics],
        columns=["metric", *labels],
        dtype=object,  # counts stay integers beside ratios
    )
    by_pack = [{t["laundering_type"]: t for t in p["typologies"]} for p in packs]
    rows = []
    for name in dict.fromkeys(t for typologies in by_pack for t in typologies):
        found = [typologies.get(name) for typologies in by_pack]
        instances = max((t["instances"] for t in found if t), default=0)
        recalls = [t["instance_recall"] if t and t["rules"] else None for t in found]
        if instances and any(t and t["rules"] for t in found):
            rows.append([name, instances, *recalls])
    typologies = pd.DataFrame(rows, columns=["laundering_type", "instances", *labels])
    shown = next((p for p in packs if p["label"] == published), None)
    if shown is None:
        raise ValueError(f"no pack labelled {published!r} in the backtest: {labels}")
    curve = pd.DataFrame(shown.get("threshold_curve") or [], columns=CURVE_COLUMNS)
    return {"overall": overall, "typologies": typologies, "curve": curve}


# --- what-if sweep of one rule's parameter -----------------------------------------------------


def what_if_pack(
    pack: rulepack.RulePack, rule_id: str, param: str, value: Any
) -> tuple[rulepack.Rule, rulepack.RulePack]:
    """(the rule with ``param`` set to ``value``, ``pack`` with that variant in its place); the
    pack keeps its other rules and its scoring."""
    rule = pack.rule(rule_id)
    variant = rulepack.with_params(rule, **{param: value})
    rules = tuple(variant if r.id == rule_id else r for r in pack.rules)
    return variant, rulepack.RulePack(pack.name, pack.version, rules, scoring=pack.scoring)


def _sweepable(pack: rulepack.RulePack, rule_id: str, param: str) -> rulepack.Rule:
    try:
        rule = pack.rule(rule_id)
    except KeyError:
        ids = ", ".join(r.id for r in pack.rules)
        raise KeyError(f"{pack.name} v{pack.version} has no rule {rule_id}; it has {ids}") from None
    if param not in rule.params:
        raise KeyError(f"{rule_id} has no parameter {param!r}; it has {sorted(rule.params)}")
    if not rule.typologies:
        raise ValueError(f"{rule_id} targets no typology: its recall cannot be measured")
    return rule


def _recall(metrics: dict[str, Any], rule: rulepack.Rule) -> dict[str, Any]:
    """Instances of the rule's typologies, how many were detected, and the ratio."""
    typologies = [t for t in metrics["typologies"] if t["laundering_type"] in rule.typologies]
    instances = sum(t["instances"] for t in typologies)
    detected = sum(t["instances_detected"] for t in typologies)
    return {
        "instances": instances,
        "instances_detected": detected,
        "instance_recall": round(detected / instances, 4) if instances else None,
    }


def sweep(
    spark: SparkSession,
    config: Config,
    data_dir: Path,
    rule_id: str,
    param: str,
    values: Sequence[Decimal],
) -> pd.DataFrame:
    """Per value of ``param`` (column ``threshold``), over the current silver snapshot, the
    instance recall of the typologies the rule is meant to catch, and:

    * v1 pack: the rule's own hits, alerts and alert precision (the rule evaluated alone);
    * scored pack: the whole pack's alerts, true-positive alerts and alert precision, and the
      alerts the rule contributes to, with the variant in place of the rule (recall is through
      alerts, so other rules covering the same typologies count too). Each value is a full
      evaluation of the pack.
    """
    import pandas as pd

    pack = rulepack.load(config)
    rule = _sweepable(pack, rule_id, param)
    sweep_one = _sweep_scored if pack.is_scored else _sweep_rule
    return pd.DataFrame(sweep_one(spark, config, data_dir, pack, rule, param, values))


def _sweep_rule(
    spark: SparkSession,
    config: Config,
    data_dir: Path,
    pack: rulepack.RulePack,
    rule: rulepack.Rule,
    param: str,
    values: Sequence[Decimal],
) -> list[dict[str, Any]]:
    """v1: the rule alone, its alerts its own."""
    tx_df = frames.materialise(gold_evaluate.read_tables(spark, config)["silver.transactions"])
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
            (rule_row,) = [r for r in metrics["rules"] if r["rule_id"] == rule.id]
            rows.append(
                {
                    "threshold": float(value),
                    "param_hash": variant.param_hash,
                    "hits": rule_row["hits"],
                    "alerts": rule_row["alerts"],
                    "alert_precision": rule_row["alert_precision"],
                    **_recall(metrics, rule),
                }
            )
    finally:
        frames.release(tx_df)
        gt_df.unpersist()
    return rows


def _sweep_scored(
    spark: SparkSession,
    config: Config,
    data_dir: Path,
    pack: rulepack.RulePack,
    rule: rulepack.Rule,
    param: str,
    values: Sequence[Decimal],
) -> list[dict[str, Any]]:
    """Scored: the whole pack with the variant in place of the rule, scored and consolidated
    as a full gold build does (allow-list included)."""
    tx_df, version = gold_backtest.silver_snapshot(spark, config, None, None)
    tx_df = frames.materialise(tx_df)
    gt_df, _ = ground_truth(spark, data_dir)
    gt_df = gt_df.where(gt_df["laundering_type"].isin(list(rule.typologies))).persist()
    rows: list[dict[str, Any]] = []
    try:
        for value in values:
            variant, what_if = what_if_pack(pack, rule.id, param, value)
            hits_df, alerts_df = gold_backtest.run_pack(spark, config, tx_df, what_if, version)
            try:
                metrics = gold_evaluate.detection_metrics(what_if, gt_df, hits_df, alerts_df, tx_df)
            finally:
                hits_df.unpersist()
                alerts_df.unpersist()
            overall = metrics["overall"]
            (rule_row,) = [r for r in metrics["rules"] if r["rule_id"] == rule.id]
            rows.append(
                {
                    "threshold": float(value),
                    "param_hash": variant.param_hash,
                    "alerts": overall["total_alerts"],
                    "true_positive_alerts": overall["true_positive_alerts"],
                    "alert_precision": overall["alert_precision"],
                    "rule_hits": rule_row["hits"],
                    "rule_alerts": rule_row["alerts"],
                    **_recall(metrics, rule),
                }
            )
    finally:
        frames.release(tx_df)
        gt_df.unpersist()
    return rows
