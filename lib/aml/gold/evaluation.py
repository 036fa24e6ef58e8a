"""Evaluating the rule pack: silver rows (all, or the scoped subjects') -> identified rule hits.

The one entry point the batch job and the streaming job share. With no scope it evaluates every
subject (a full rebuild). With a scope (:mod:`aml.gold.scope`) it evaluates, per rule, only the
listed subjects, reading their rows over the interval that can influence hits in
``[lo_s, hi_s]`` and returning only the hits inside it, which are then exactly the hits a full
evaluation would give there.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from aml.gold import rules as rule_sql
from aml.gold.rulepack import Rule, RulePack

HIT_COLUMNS = (
    "hit_id", "rule_id", "rule_name", "rule_version", "param_hash", "transaction_id",
    "subject_token", "subject_role", "event_ts", "event_date", "amount", "base_severity",
    "subject_is_pep", "subject_is_high_risk", "alert_id", "silver_version", "run_id",
    "evaluated_at",
)  # fmt: skip
SCOPE_SCHEMA = "rule_id STRING, subject_token STRING, lo_s BIGINT, hi_s BIGINT"


@dataclass(frozen=True)
class Lineage:
    """What every gold row records about the evaluation that produced it."""

    silver_version: int
    run_id: str
    evaluated_at: dt.datetime

    def columns(self) -> dict[str, Column]:
        """The lineage as the columns every hit and alert carries."""
        return {
            "silver_version": F.lit(self.silver_version).cast("bigint"),
            "run_id": F.lit(self.run_id),
            "evaluated_at": F.lit(self.evaluated_at).cast("timestamp"),
        }


# Kinds whose hits depend on other accounts' rows (blocks, paths through intermediaries): a scoped
# run evaluates them over every row of the affected time span, not over the subjects' own rows.
GRAPH_KINDS = ("bipartite", "scatter_gather")


def subject_sides(rule: Rule) -> tuple[str, ...]:
    """Which side(s) of a transaction carry the rule's subject."""
    if rule.kind in ("trailing_window", "fan_burst"):
        return (rule.param("subject"),)
    if rule.kind in ("rapid_pass_through", "cash_out_after_inflow", "gather_scatter"):
        return ("sender", "receiver")
    return ("sender",)


def reach(rule: Rule) -> tuple[int, int]:
    """(before, after): a change at ``s`` can alter the subject's hits in
    ``[s - before, s + after]``.

    Flag-all windows of width W: triggers in ``[s, s + W]`` flag rows back to ``t - W``; the
    velocity spike's history reaches H forward; chains and pass-throughs span W either way.
    """
    kind = rule.kind
    if kind in ("large_amount", "high_risk_jurisdiction"):
        return 0, 0
    if kind == "velocity_spike":
        return rule.seconds("spike_seconds"), rule.seconds("history_seconds")
    if kind == "new_account_large":
        return 0, rule.seconds("history_seconds")
    window = rule.seconds("window_seconds")
    if kind in ("fan_burst", "new_corridor"):
        # triggers in [s, s + W + H] (s inside their history or window) flag rows back to t - W
        return window, window + rule.seconds("history_seconds")
    if kind == "scatter_gather":
        # a path's qualification looks W either way along its source's paths, each W long
        return 2 * window, 2 * window
    return window, window


def margin(rule: Rule) -> tuple[int, int]:
    """(before, after): rows needed around ``[lo, hi]`` to decide every hit inside it exactly."""
    if rule.kind == "velocity_spike":
        return rule.seconds("history_seconds"), rule.seconds("spike_seconds")
    if rule.kind == "new_account_large":
        return rule.seconds("history_seconds"), 0
    if rule.kind in ("fan_burst", "new_corridor"):
        window = rule.seconds("window_seconds")
        return window + rule.seconds("history_seconds"), window
    return reach(rule)


def _ts_s(df: DataFrame) -> Column:
    return F.unix_seconds(df["event_ts"])


def _scoped_rows(
    tx_df: DataFrame, scope_df: DataFrame, sides: tuple[str, ...], before: int, after: int
) -> DataFrame:
    """Rows whose subject side is in scope and whose time is within the widened interval."""
    parts = []
    for side in sides:
        condition = (
            (tx_df[f"{side}_account_token"] == scope_df["subject_token"])
            & (_ts_s(tx_df) >= scope_df["lo_s"] - before)
            & (_ts_s(tx_df) <= scope_df["hi_s"] + after)
        )
        parts.append(tx_df.join(F.broadcast(scope_df), on=condition, how="left_semi"))
    rows_df = parts[0]
    for part in parts[1:]:
        rows_df = rows_df.unionByName(part)
    rows_df = rows_df.dropDuplicates(["transaction_id"]) if len(parts) > 1 else rows_df
    # The rules' SQL reads its rows several times (self-joins, IN subqueries): materialise the
    # few scoped rows once instead of re-running the semi-joins over silver for each reference
    # (2-3x faster scoped evaluation on two cores).
    return rows_df.localCheckpoint()


def _time_scoped_rows(tx_df: DataFrame, scope_df: DataFrame, before: int, after: int) -> DataFrame:
    """Every row (of any account) within the scope's time span, widened by the margin."""
    span = scope_df.agg(F.min("lo_s").alias("lo"), F.max("hi_s").alias("hi")).first()
    if span is None or span["lo"] is None:
        return tx_df.limit(0)
    in_span = (_ts_s(tx_df) >= span["lo"] - before) & (_ts_s(tx_df) <= span["hi"] + after)
    return tx_df.where(in_span).localCheckpoint()


def raw_hits(
    spark: SparkSession, tx_df: DataFrame, rule: Rule, scope_df: DataFrame | None = None
) -> DataFrame:
    """The rule's hits (columns of :data:`aml.gold.rules.HIT_COLUMNS`) over ``tx_df``."""
    statement = rule_sql.sql(rule)
    if scope_df is None:
        return spark.sql(statement, tx=tx_df, first=tx_df)
    rule_scope_df = scope_df.where(F.col("rule_id") == rule.id).drop("rule_id")
    before, after = margin(rule)
    if rule.kind == "round_trip":
        first_df = _scoped_rows(tx_df, rule_scope_df, ("sender",), before, 0)
        hits_df = spark.sql(statement, tx=tx_df, first=first_df)
    elif rule.kind in GRAPH_KINDS:
        rows_df = _time_scoped_rows(tx_df, rule_scope_df, before, after)
        hits_df = spark.sql(statement, tx=rows_df, first=rows_df)
    else:
        rows_df = _scoped_rows(tx_df, rule_scope_df, subject_sides(rule), before, after)
        hits_df = spark.sql(statement, tx=rows_df, first=rows_df)
    inside = (
        (
            rule_scope_df["subject_token"].isNull()
            | (hits_df["subject_token"] == rule_scope_df["subject_token"])
        )
        & (F.unix_seconds(hits_df["event_ts"]) >= rule_scope_df["lo_s"])
        & (F.unix_seconds(hits_df["event_ts"]) <= rule_scope_df["hi_s"])
    )
    return hits_df.join(F.broadcast(rule_scope_df), on=inside, how="left_semi")


def alert_id(rule_id: Column, subject_token: Column, day: Column) -> Column:
    """First 32 hex chars of sha256(``rule_id|subject_token|YYYY-MM-DD``) (RULES.md)."""
    key = F.concat_ws("|", rule_id, subject_token, F.date_format(day, "yyyy-MM-dd"))
    return F.substring(F.sha2(key, 256), 1, 32)


def hit_id(rule_id: Column, transaction_id: Column, subject_token: Column) -> Column:
    key = F.concat_ws("|", rule_id, transaction_id.cast("string"), subject_token)
    return F.substring(F.sha2(key, 256), 1, 32)


def with_identity(hits_df: DataFrame, rule: Rule, lineage: Lineage) -> DataFrame:
    """Adds the rule's identity, the deterministic keys and the lineage to raw hits."""
    return (
        hits_df.withColumns(
            {
                "rule_id": F.lit(rule.id),
                "rule_name": F.lit(rule.name),
                "rule_version": F.lit(rule.version),
                "param_hash": F.lit(rule.param_hash),
                "event_date": F.to_date("event_ts"),
                **lineage.columns(),
            }
        )
        .withColumns(
            {
                "hit_id": hit_id(F.col("rule_id"), F.col("transaction_id"), F.col("subject_token")),
                "alert_id": alert_id(F.col("rule_id"), F.col("subject_token"), F.col("event_date")),
            }
        )
        .select(*HIT_COLUMNS)
    )


def evaluate(
    spark: SparkSession,
    tx_df: DataFrame,
    pack: RulePack,
    lineage: Lineage,
    scope_df: DataFrame | None = None,
) -> DataFrame:
    """Hits of every enabled rule: over all of ``tx_df``, or only inside ``scope_df``.

    Args:
        tx_df: silver transactions (tokens, never account numbers; labels are not read).
        pack: the rule pack.
        lineage: silver version, run and time stamped on every hit.
        scope_df: ``rule_id, subject_token, lo_s, hi_s`` (:data:`SCOPE_SCHEMA`), or None for all.
    """
    parts = [
        with_identity(raw_hits(spark, tx_df, rule, scope_df), rule, lineage)
        for rule in pack.enabled
    ]
    hits_df = parts[0]
    for part in parts[1:]:
        hits_df = hits_df.unionByName(part)
    return hits_df
