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

Graph rules (:data:`aml.gold.evaluation.GRAPH_KINDS`: bipartite blocks, scatter-gather paths)
put a change under accounts one edge away from it: a changed edge ``U -> V`` can complete or
break a block whose hit edge runs from a payer of V to a payee of U, or a path from a payer of
U or to a payee of V. Their subjects are U, V and every account that shares a row with U or V
within ``2 W`` of the change (:func:`neighbours`), each over the rule's reach around it.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from aml.frames import union_all
from aml.gold.evaluation import (
    GRAPH_KINDS,
    SCOPE_SCHEMA,
    SPAN_KINDS,
    links,
    reach,
    subject_sides,
    unseen_payees,
)
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


@dataclass(frozen=True)
class Links:
    """Silver's rows around the changes (:func:`aml.gold.evaluation.links`), materialised once:
    every walk of the scope reads them, so silver is scanned once per scope, not once per step
    of each walk.

    Attributes:
        lo, hi: the first and the last changed row's epoch seconds.
        df: the rows in ``[lo - before, hi + after]`` for the widest reach any rule walks.
    """

    lo: int
    hi: int
    df: DataFrame

    @classmethod
    def around(
        cls, points_df: DataFrame, tx_df: DataFrame, before: int, after: int
    ) -> Links | None:
        """The links ``before`` the first change to ``after`` the last, None with no change."""
        bounds = points_df.agg(F.min("s").alias("lo"), F.max("s").alias("hi")).first()
        if bounds is None or bounds["lo"] is None:
            return None
        lo, hi = bounds["lo"], bounds["hi"]
        return cls(lo, hi, links(tx_df, lo - before, hi + after))

    def near(self, before: int, after: int, names: tuple[str, str, str]) -> DataFrame:
        """The links with a sender in ``[lo - before, hi + after]`` as (sender, receiver,
        seconds) ``names``: what a walk from the changes can reach (within what :meth:`around`
        read)."""
        sender, receiver, seconds = names
        return self.df.where(
            F.col("sender").isNotNull() & F.col("s").between(self.lo - before, self.hi + after)
        ).select(
            F.col("sender").alias(sender),
            F.col("receiver").alias(receiver),
            F.col("s").alias(seconds),
        )


def _no_accounts(points_df: DataFrame) -> DataFrame:
    return points_df.select(F.col("sender").alias("account"), "s").limit(0)


def walk_back(points_df: DataFrame, links: Links | None, window: int, steps: int) -> DataFrame:
    """``account, s``: the changed rows' senders and every account that can precede them in a
    chain of at most ``steps`` earlier legs, each at most ``window`` before the change."""
    if links is None:
        return _no_accounts(points_df)
    # every leg the walk can take is at most ``window`` before the change it started from
    legs_df = links.near(window, 0, ("prev_sender", "prev_receiver", "prev_ts"))
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


def payers_after(points_df: DataFrame, links: Links | None, history: int) -> DataFrame:
    """``account, s``: the senders of today's payments to a changed row's sender or receiver
    within ``(s, s + history]``, whose payee's "unseen" status the change can alter."""
    if links is None:
        return _no_accounts(points_df)
    payments_df = links.near(0, history, ("payer", "payee", "paid_s"))
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


def neighbours(points_df: DataFrame, links: Links | None, window: int) -> DataFrame:
    """``account, s``: the changed rows' senders and receivers, and every account that sent to
    or received from one of them within ``window`` of the change (either way)."""
    ends_df = union_all(
        [points_df.select(F.col(side).alias("account"), "s") for side in ("sender", "receiver")]
    ).where(F.col("account").isNotNull())
    if links is None:
        return ends_df
    rows_df = links.near(window, window, ("a", "b", "at")).where(F.col("b").isNotNull())
    near = (rows_df["at"] >= ends_df["s"] - window) & (rows_df["at"] <= ends_df["s"] + window)
    parts = [ends_df]
    for own, other in (("a", "b"), ("b", "a")):
        parts.append(
            ends_df.join(
                rows_df, on=(ends_df["account"] == rows_df[own]) & near, how="inner"
            ).select(F.col(other).alias("account"), "s")
        )
    return union_all(parts)


def _walk(rule: Rule) -> tuple[int, int] | None:
    """(before, after): the links around the changes the rule's scope walks, None if none."""
    if rule.kind in GRAPH_KINDS:
        # a block's hit edge is at most W from each of its edges, so its accounts share an edge
        # with the changed one's within 2 W; a path's middle is within W of either leg
        return 2 * rule.seconds("window_seconds"), 2 * rule.seconds("window_seconds")
    if rule.kind == "round_trip":
        return rule.seconds("window_seconds"), 0
    if unseen_payees(rule):
        return 0, rule.seconds("history_seconds")
    return None


def _rule_points(rule: Rule, points_df: DataFrame, links: Links | None) -> DataFrame:
    if rule.kind in GRAPH_KINDS:
        return neighbours(points_df, links, _walk(rule)[0])
    if rule.kind == "round_trip":
        steps = int(rule.param("max_legs")) - 1
        return walk_back(points_df, links, rule.seconds("window_seconds"), steps)
    parts = [points_df.select(F.col(side).alias("account"), "s") for side in subject_sides(rule)]
    if unseen_payees(rule):
        parts.append(payers_after(points_df, links, rule.seconds("history_seconds")))
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
        tx_df: silver as it is now (for the walks: round trips, payees, graph neighbours).
        pack: the rule pack; only enabled rules get a scope.
    """
    points_df = change_points(changes_df).localCheckpoint()
    walks = [w for w in (_walk(rule) for rule in pack.enabled) if w is not None]
    links = None
    if walks:
        before, after = max(w[0] for w in walks), max(w[1] for w in walks)
        links = Links.around(points_df, tx_df, before, after)
    parts = []
    for rule in pack.enabled:
        before, after = reach(rule)
        if rule.kind in SPAN_KINDS:
            parts.append(_span(rule, points_df, before, after))
            continue
        parts.append(
            _rule_points(rule, points_df, links)
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
