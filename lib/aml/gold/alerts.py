"""gold.alerts from rule hits: one alert per rule, subject and UTC day, with its evidence.

The alert's key is a hash of (rule, subject token, day), so the same facts give the same alert
whichever way they arrive (full rebuild, increment, micro-batch). The narrative names the subject
by a six-character token prefix only: enough to tell alerts apart on screen, too short to hold
anything that looks like an account number.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from aml.gold.evaluation import Lineage
from aml.gold.rulepack import SEVERITIES, RulePack

ALERT_COLUMNS = (
    "alert_id", "rule_id", "rule_name", "rule_version", "param_hash", "subject_token",
    "subject_role", "alert_date", "base_severity", "effective_severity", "escalation_reason",
    "hit_count", "total_amount", "first_event_ts", "last_event_ts", "transaction_ids",
    "narrative", "status", "silver_version", "run_id", "evaluated_at",
)  # fmt: skip
NEW = "NEW"


def ladder() -> Column:
    """The severity ladder as an array column (built on use: columns need a live session)."""
    return F.array(*[F.lit(s) for s in SEVERITIES])


def severity_rank(severity: Column) -> Column:
    """1 (LOW) to 4 (CRITICAL); 0 for anything else."""
    return F.array_position(ladder(), severity)


def escalated(rank: Column, is_escalated: Column) -> Column:
    """One level up the ladder when escalated, capped at CRITICAL."""
    top = F.lit(len(SEVERITIES))
    return F.element_at(
        ladder(), F.when(is_escalated, F.least(rank + 1, top)).otherwise(rank).cast("int")
    )


def escalation_reason(is_pep: Column, is_high_risk: Column) -> Column:
    reasons = F.concat_ws(
        "; ",
        F.when(is_pep, F.lit("subject's customer is a PEP")),
        F.when(is_high_risk, F.lit("subject's customer has risk rating HIGH")),
    )
    return F.when(reasons != "", reasons)


def _descriptions(pack: RulePack) -> Column:
    mapping = F.create_map(*[x for r in pack.rules for x in (F.lit(r.id), F.lit(r.description))])
    return mapping[F.col("rule_id")]


def narrative(pack: RulePack) -> Column:
    """A readable sentence with no personal data: counts, totals, times and a token prefix."""
    text = F.format_string(
        "%s (%s v%d): %d transaction(s) totalling %s GBP on %s between %s and %s UTC; "
        "subject: %s token %s... Rule: %s. Severity %s",
        F.col("rule_name"),
        F.col("rule_id"),
        F.col("rule_version"),
        F.col("hit_count"),
        F.format_number(F.col("total_amount"), 2),
        F.date_format("alert_date", "yyyy-MM-dd"),
        F.date_format("first_event_ts", "HH:mm:ss"),
        F.date_format("last_event_ts", "HH:mm:ss"),
        F.when(F.col("subject_role") == "account", F.lit("account")).otherwise(
            F.concat(F.col("subject_role"), F.lit(" account"))
        ),
        F.substring("subject_token", 1, 6),
        _descriptions(pack),
        F.col("base_severity"),
    )
    return F.concat(text, escalation_suffix(), F.lit("."))


def escalation_suffix() -> Column:
    """``, escalated to HIGH: <reason>`` for an escalated alert, else empty."""
    return F.when(
        F.col("escalation_reason").isNotNull(),
        F.concat(
            F.lit(", escalated to "), F.col("effective_severity"), F.lit(": "),
            F.col("escalation_reason"),
        ),
    ).otherwise(F.lit(""))  # fmt: skip


def build_alerts(hits_df: DataFrame, pack: RulePack, lineage: Lineage) -> DataFrame:
    """Groups hits (``aml.gold.evaluation.HIT_COLUMNS``) into alerts (:data:`ALERT_COLUMNS`).

    ``hits_df`` must hold every hit of each (rule, subject, day) it touches: an alert is a
    summary of all of its hits, never of part of them.
    """
    grouped_df = hits_df.groupBy("alert_id", "rule_id", "subject_token", "event_date").agg(
        F.max("rule_name").alias("rule_name"),
        F.max("rule_version").alias("rule_version"),
        F.max("param_hash").alias("param_hash"),
        F.max("subject_role").alias("subject_role"),
        F.max(severity_rank(F.col("base_severity"))).alias("rank"),
        F.count("*").alias("hit_count"),
        F.sum("amount").alias("total_amount"),
        F.min("event_ts").alias("first_event_ts"),
        F.max("event_ts").alias("last_event_ts"),
        F.array_sort(F.collect_set("transaction_id")).alias("transaction_ids"),
        F.bool_or("subject_is_pep").alias("is_pep"),
        F.bool_or("subject_is_high_risk").alias("is_high_risk"),
    )
    is_escalated = F.coalesce(F.col("is_pep") | F.col("is_high_risk"), F.lit(False))
    return (
        grouped_df.withColumns(
            {
                "alert_date": F.col("event_date"),
                "base_severity": F.element_at(ladder(), F.col("rank").cast("int")),
                "effective_severity": escalated(F.col("rank"), is_escalated),
                "escalation_reason": escalation_reason(F.col("is_pep"), F.col("is_high_risk")),
                "status": F.lit(NEW),
                **lineage.columns(),
            }
        )
        .withColumn("narrative", narrative(pack))
        .select(*ALERT_COLUMNS)
    )
