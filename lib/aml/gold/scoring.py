"""Scored packs: hits carry a score, and a subject's hits of one period become one alert.

Rule pack v2 (``docs/RULES_V2.md``) treats each rule hit as a signal. For a subject and a period
(ISO week or UTC day), the period score is the sum, over the distinct rules with at least one
unsuppressed hit of that subject in the period, of each rule's ``score``: a rule counts once
however many hits it has, so one noisy rule cannot reach the threshold by repetition. A subject
whose period score reaches ``alert_threshold`` gets one alert that lists every contributing hit,
the score of each rule and the typologies suspected. Everything is keyed deterministically, so a
full rebuild, an increment and a streaming micro-batch give the same rows.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from aml.gold.alerts import (
    NEW,
    escalated,
    escalation_reason,
    escalation_suffix,
    ladder,
    severity_rank,
)
from aml.gold.evaluation import Lineage
from aml.gold.rulepack import RulePack, Scoring

SCORED_HIT_COLUMNS = ("score", "is_suppressed", "suppression_id")
SCORED_ALERT_COLUMNS = (
    "alert_id", "rule_id", "rule_name", "rule_version", "param_hash", "subject_token",
    "subject_role", "alert_date", "base_severity", "effective_severity", "escalation_reason",
    "hit_count", "total_amount", "first_event_ts", "last_event_ts", "transaction_ids",
    "narrative", "status", "silver_version", "run_id", "evaluated_at", "score",
    "score_breakdown", "typologies", "suppressed_hits", "pack_version",
)  # fmt: skip
BREAKDOWN = "array<struct<rule_id:string,rule_name:string,score:int,hits:bigint>>"


def period_start(event_ts: Column, scoring: Scoring) -> Column:
    """The first day of the hit's alert period: its ISO week's Monday, or its UTC day."""
    if scoring.period == "week":
        return F.to_date(F.date_trunc("week", event_ts))
    return F.to_date(event_ts)


def scored_alert_id(subject_token: Column, period: Column, pack: RulePack) -> Column:
    """First 32 hex chars of sha256(``v<pack version>|subject_token|YYYY-MM-DD``)."""
    key = F.concat_ws(
        "|", F.lit(f"v{pack.version}"), subject_token, F.date_format(period, "yyyy-MM-dd")
    )
    return F.substring(F.sha2(key, 256), 1, 32)


def _lookup(pack: RulePack, value) -> Column:
    entries = [x for rule in pack.rules for x in (F.lit(rule.id), F.lit(value(rule)))]
    return F.create_map(*entries)


def with_scores(hits_df: DataFrame, pack: RulePack) -> DataFrame:
    """Adds each hit's ``score`` (its rule's score) and the alert period's first day."""
    scores = _lookup(pack, lambda rule: int(rule.param("score")))
    return hits_df.withColumns(
        {
            "score": scores[F.col("rule_id")].cast("int"),
            "period_start": period_start(F.col("event_ts"), pack.scoring),
        }
    )


def severity_for(score: Column, scoring: Scoring) -> Column:
    """The highest severity whose floor the score reaches (``severity_floors``)."""
    result = F.lit(None).cast("string")
    for severity, floor in scoring.severity_floors:
        result = F.when(score >= floor, F.lit(severity)).otherwise(result)
    return result


def narrative(pack: RulePack) -> Column:
    """Counts, totals, the score breakdown and a token prefix; never personal data."""
    parts = F.transform(
        F.col("score_breakdown"),
        lambda b: F.format_string("%s %s +%d (%d hit(s))", b["rule_id"], b["rule_name"],
                                  b["score"], b["hits"]),
    )  # fmt: skip
    text = F.format_string(
        "Score %d (threshold %d) for account token %s... in the %s starting %s: %s. "
        "%d transaction(s) totalling %s GBP between %s and %s UTC. Suspected: %s. Severity %s",
        F.col("score"),
        F.lit(pack.scoring.alert_threshold),
        F.substring("subject_token", 1, 6),
        F.lit(pack.scoring.period),
        F.date_format("alert_date", "yyyy-MM-dd"),
        F.array_join(parts, "; "),
        F.size("transaction_ids"),
        F.format_number(F.col("total_amount"), 2),
        F.date_format("first_event_ts", "yyyy-MM-dd HH:mm:ss"),
        F.date_format("last_event_ts", "yyyy-MM-dd HH:mm:ss"),
        F.coalesce(F.nullif(F.array_join("typologies", ", "), F.lit("")), F.lit("none named")),
        F.col("base_severity"),
    )
    return F.concat(text, escalation_suffix(), F.lit("."))


def consolidate(
    hits_df: DataFrame, pack: RulePack, lineage: Lineage
) -> tuple[DataFrame, DataFrame]:
    """(hits with their alert id, alerts) from scored hits of whole subject periods.

    ``hits_df`` has the hit columns plus ``score``, ``is_suppressed``, ``suppression_id`` and
    ``period_start`` (:func:`with_scores`), and must hold every hit of each (subject, period) it
    touches. A hit's ``alert_id`` is set when its subject period is alerted and the hit is not
    suppressed; it is null otherwise (the hit stays in gold as a signal).
    """
    scoring = pack.scoring
    typologies = _lookup(pack, lambda rule: list(rule.typologies) or [""])
    names = _lookup(pack, lambda rule: rule.name)
    active_df = hits_df.where(~F.col("is_suppressed"))
    per_rule_df = active_df.groupBy("subject_token", "period_start", "rule_id").agg(
        F.max("score").alias("score"), F.count("*").alias("hits")
    )
    keys = ["subject_token", "period_start"]
    totals_df = (
        per_rule_df.groupBy(*keys)
        .agg(
            F.sum("score").cast("int").alias("score"),
            F.array_sort(
                F.collect_list(
                    F.struct(
                        (-F.col("score")).alias("rank"),
                        F.col("rule_id"),
                        names[F.col("rule_id")].alias("rule_name"),
                        F.col("score"),
                        F.col("hits"),
                    )
                )
            ).alias("ranked"),
        )
        .where(F.col("score") >= scoring.alert_threshold)
        .withColumn(
            "alert_id", scored_alert_id(F.col("subject_token"), F.col("period_start"), pack)
        )
    )
    alerted_hits_df = (
        hits_df.join(
            totals_df.select(*keys, F.col("alert_id").alias("_alert_id")), on=keys, how="left"
        )
        .withColumn("alert_id", F.when(~F.col("is_suppressed"), F.col("_alert_id")))
        .drop("_alert_id")
    )
    evidence_df = alerted_hits_df.where(F.col("alert_id").isNotNull())
    distinct_tx_df = evidence_df.dropDuplicates(["alert_id", "transaction_id"])
    amounts_df = distinct_tx_df.groupBy("alert_id").agg(
        F.sum("amount").alias("total_amount"),
        F.min("event_ts").alias("first_event_ts"),
        F.max("event_ts").alias("last_event_ts"),
        F.array_sort(F.collect_list("transaction_id")).alias("transaction_ids"),
    )
    facts_df = evidence_df.groupBy("alert_id").agg(
        F.count("*").alias("hit_count"),
        F.bool_or("subject_is_pep").alias("is_pep"),
        F.bool_or("subject_is_high_risk").alias("is_high_risk"),
    )
    suppressed_df = (
        hits_df.where(F.col("is_suppressed"))
        .groupBy(*keys)
        .agg(F.count("*").alias("suppressed_hits"))
    )
    top = F.col("ranked")[0]
    roles_df = evidence_df.groupBy("alert_id", "rule_id").agg(
        F.max("subject_role").alias("subject_role"),
        F.max("rule_version").alias("rule_version"),
        F.max("param_hash").alias("param_hash"),
    )
    is_escalated = F.coalesce(F.col("is_pep") | F.col("is_high_risk"), F.lit(False))
    rank = severity_rank(severity_for(F.col("score"), scoring))
    alerts_df = (
        totals_df.join(amounts_df, on="alert_id", how="inner")
        .join(facts_df, on="alert_id", how="inner")
        .join(suppressed_df, on=keys, how="left")
        .withColumn("rule_id", top["rule_id"])
        .join(roles_df, on=["alert_id", "rule_id"], how="left")
        .withColumns(
            {
                "rule_name": top["rule_name"],
                "alert_date": F.col("period_start"),
                "base_severity": F.element_at(ladder(), rank.cast("int")),
                "effective_severity": escalated(rank, is_escalated),
                "escalation_reason": escalation_reason(F.col("is_pep"), F.col("is_high_risk")),
                "score_breakdown": F.transform(
                    F.col("ranked"),
                    lambda r: F.struct(
                        r["rule_id"].alias("rule_id"),
                        r["rule_name"].alias("rule_name"),
                        r["score"].cast("int").alias("score"),
                        r["hits"].alias("hits"),
                    ),
                ).cast(BREAKDOWN),
                "typologies": F.array_sort(
                    F.array_distinct(
                        F.filter(
                            F.flatten(
                                F.transform(F.col("ranked"), lambda r: typologies[r["rule_id"]])
                            ),
                            lambda t: t != "",
                        )
                    )
                ),
                "suppressed_hits": F.coalesce(F.col("suppressed_hits"), F.lit(0)).cast("bigint"),
                "pack_version": F.lit(pack.version),
                "status": F.lit(NEW),
                **lineage.columns(),
            }
        )
        .withColumn("narrative", narrative(pack))
        .select(*SCORED_ALERT_COLUMNS)
    )
    return alerted_hits_df.drop("period_start"), alerts_df
