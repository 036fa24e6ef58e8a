"""Which subjects, over which interval, a set of silver changes can affect: the evaluation scope.

A change is a silver row inserted, updated (its old and its new image) or deleted. For each rule,
the subjects of the changed rows (on the rule's side) must be re-evaluated over
``[min s - before, max s + after]`` (:func:`aml.gold.evaluation.reach`), where ``s`` runs over the
changed rows' times; every other subject's hits are provably unchanged.

Round trips are the exception: their subject A is the sender of the first leg, which a change of
a later leg does not name. Walking back from each changed row's sender along the legs that
could precede it (received by that account, at most W earlier) for up to ``max_legs - 1`` steps
reaches every A whose chains can contain the change. Old chains are found the same way: walking
back from the old image's sender over today's rows finds the unchanged earlier legs, and a
changed earlier leg is a change of its own. The walk ignores amounts, so it over-approximates;
re-evaluating a subject that did not need it is harmless.

A spike that counts unseen payees depends on its payees' own rows too: a change to a payee's
row at s decides whether the payments to it in ``(s, s + H]`` are unseen, so the senders of
those payments are in scope as well (:func:`payers_after`).
"""

from __future__ import annotations

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from aml.frames import union_all
from aml.gold.evaluation import SCOPE_SCHEMA, SPAN_KINDS, reach, subject_sides, unseen_payees
from aml.gold.rulepack import Rule, RulePack

CHANGE_TYPES = ("insert", "update_preimage", "update_postimage", "delete")


def change_points(changes_df: DataFrame) -> DataFrame:
    """``sender, receiver, s`` of every changed row image (CDF rows of any change type)."""
    return (
        changes_df.where(F.col("event_ts").isNotNull())
        .select(
            F.col("sender_account_token").alias("sender"),
            F.col("receiver_account_token").alias("receiver"),
            F.unix_seconds("event_ts").alias("s"),
        )
        .distinct()
    )


def _sent_near(
    points_df: DataFrame, tx_df: DataFrame, before: int, after: int, names: tuple[str, str, str]
) -> DataFrame | None:
    """Silver's rows with a sender in ``[first change - before, last change + after]`` as
    (sender, receiver, epoch seconds) named ``names``, or None when there is no change: what a
    walk from the changes can reach, read once."""
    bounds = points_df.agg(F.min("s").alias("lo"), F.max("s").alias("hi")).first()
    if bounds is None or bounds["lo"] is None:
        return None
    sender, receiver, seconds = names
    return tx_df.where(
        F.col("sender_account_token").isNotNull()
        & F.col("event_ts").between(
            F.timestamp_seconds(F.lit(bounds["lo"] - before)),
            F.timestamp_seconds(F.lit(bounds["hi"] + after)),
        )
    ).select(
        F.col("sender_account_token").alias(sender),
        F.col("receiver_account_token").alias(receiver),
        F.unix_seconds("event_ts").alias(seconds),
    )


def _no_accounts(points_df: DataFrame) -> DataFrame:
    return points_df.select(F.col("sender").alias("account"), "s").limit(0)


def walk_back(points_df: DataFrame, tx_df: DataFrame, window: int, steps: int) -> DataFrame:
    """``account, s``: the changed rows' senders and every account that can precede them in a
    chain of at most ``steps`` earlier legs, each at most ``window`` before the change."""
    # every leg the walk can take is at most ``window`` before the change it started from, so
    # only silver's rows in [first change - window, last change] are read
    legs_df = _sent_near(points_df, tx_df, window, 0, ("prev_sender", "prev_receiver", "prev_ts"))
    if legs_df is None:
        return _no_accounts(points_df)
    frontier_df = points_df.where(F.col("sender").isNotNull()).select(
        F.col("sender").alias("account"), "s", F.col("s").alias("at")
    )
    reached_df = frontier_df
    for _ in range(steps):
        step = (
            (legs_df["prev_receiver"] == frontier_df["account"])
            & (legs_df["prev_ts"] < frontier_df["at"])
            & (legs_df["prev_ts"] >= frontier_df["s"] - window)
        )
        frontier_df = (
            frontier_df.join(legs_df, on=step, how="inner")
            .select(F.col("prev_sender").alias("account"), "s", F.col("prev_ts").alias("at"))
            .distinct()
        )
        reached_df = reached_df.unionByName(frontier_df)
    return reached_df.select("account", "s")


def payers_after(points_df: DataFrame, tx_df: DataFrame, history: int) -> DataFrame:
    """``account, s``: the senders of today's payments to a changed row's sender or receiver
    within ``(s, s + history]``, whose payee's "unseen" status the change can alter."""
    payments_df = _sent_near(points_df, tx_df, 0, history, ("payer", "payee", "paid_s"))
    if payments_df is None:
        return _no_accounts(points_df)
    touched_df = (
        points_df.select(F.col("sender").alias("payee"), "s")
        .unionByName(points_df.select(F.col("receiver").alias("payee"), "s"))
        .where(F.col("payee").isNotNull())
    )
    reached = (payments_df["paid_s"] > touched_df["s"]) & (
        payments_df["paid_s"] <= touched_df["s"] + history
    )
    return (
        touched_df.join(payments_df, on="payee")
        .where(reached)
        .select(F.col("payer").alias("account"), "s")
    )


def _rule_points(rule: Rule, points_df: DataFrame, tx_df: DataFrame) -> DataFrame:
    if rule.kind == "round_trip":
        steps = int(rule.param("max_legs")) - 1
        return walk_back(points_df, tx_df, rule.seconds("window_seconds"), steps)
    parts = [points_df.select(F.col(side).alias("account"), "s") for side in subject_sides(rule)]
    if unseen_payees(rule):
        parts.append(payers_after(points_df, tx_df, rule.seconds("history_seconds")))
    return union_all(parts)


def _span(rule: Rule, points_df: DataFrame, before: int, after: int) -> DataFrame:
    """One row with a null subject (every subject) over the changes' whole span: a block, a
    path or a peer group can put a change under accounts that are not on the changed row."""
    return (
        points_df.agg((F.min("s") - before).alias("lo_s"), (F.max("s") + after).alias("hi_s"))
        .select(
            F.lit(rule.id).alias("rule_id"),
            F.lit(None).cast("string").alias("subject_token"),
            "lo_s",
            "hi_s",
        )
        .where(F.col("lo_s").isNotNull())
    )


def build_scope(changes_df: DataFrame, tx_df: DataFrame, pack: RulePack) -> DataFrame:
    """``rule_id, subject_token, lo_s, hi_s`` for every rule and affected subject.

    A null ``subject_token`` (span kinds) means every subject over ``[lo_s, hi_s]``.

    Args:
        changes_df: silver change-feed rows (every change type) since gold last consumed silver.
        tx_df: silver as it is now (for the round-trip walk).
        pack: the rule pack; only enabled rules get a scope.
    """
    points_df = change_points(changes_df)
    parts = []
    for rule in pack.enabled:
        before, after = reach(rule)
        if rule.kind in SPAN_KINDS:
            parts.append(_span(rule, points_df, before, after))
            continue
        parts.append(
            _rule_points(rule, points_df, tx_df)
            .where(F.col("account").isNotNull())
            .groupBy("account")
            .agg(
                (F.min("s") - before).alias("lo_s"),
                (F.max("s") + after).alias("hi_s"),
            )
            .select(
                F.lit(rule.id).alias("rule_id"),
                F.col("account").alias("subject_token"),
                "lo_s",
                "hi_s",
            )
        )
    return union_all(parts).select(*[F.col(c.split()[0]) for c in SCOPE_SCHEMA.split(", ")])
