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
those payments are in scope as well (:func:`_payers_after`).

Graph rules (:data:`aml.gold.evaluation.GRAPH_KINDS`: bipartite blocks, scatter-gather paths)
put a change under accounts one edge away from it: a changed edge ``U -> V`` can complete or
break a block whose hit edge runs from a payer of V to a payee of U, or a path from a payer of
U or to a payee of V. Their subjects are U, V and every account that shares a row with U or V
within ``2 W`` of the change (:func:`_neighbours`), each over the rule's reach around it.

The walks run in the driver over silver's row index (:mod:`aml.gold.row_index`: account codes
and times, located by account with binary searches), not as Spark joins: a change's walks touch
a few dozen rows of millions. Account codes are 64-bit hashes of the tokens; the tokens of the
accounts a walk reaches are read from silver's rows it walked over (one Spark job), every token
of a code, so two tokens with one code put both in scope: more, never fewer.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from aml.gold.evaluation import (
    GRAPH_KINDS,
    SCOPE_SCHEMA,
    SPAN_KINDS,
    reach,
    subject_sides,
    unseen_payees,
)
from aml.gold.row_index import NO_ACCOUNT, SIDES, RowIndex, account_code, tokens_by_id
from aml.gold.rulepack import Rule, RulePack

CHANGE_TYPES = ("insert", "update_preimage", "update_postimage", "delete")
SCOPE_COLUMNS = tuple(column.split()[0] for column in SCOPE_SCHEMA.split(", "))


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
class Points:
    """The changed row images in the driver: per side the account's token and code (0: none),
    and the time (epoch seconds)."""

    frame: pd.DataFrame

    @classmethod
    def of(cls, changes_df: DataFrame) -> Points:
        points_df = change_points(changes_df)
        table = points_df.select(
            *SIDES,
            *[account_code(F.col(side)).alias(f"{side}_code") for side in SIDES],
            "s",
        ).toArrow()
        columns = [*SIDES, *[f"{side}_code" for side in SIDES], "s"]
        frame = table.to_pandas() if table.num_rows else pd.DataFrame(columns=columns)
        return cls(frame)

    @property
    def s(self) -> np.ndarray:
        return self.frame["s"].to_numpy(np.int64)

    def accounts(self, sides: tuple[str, ...]) -> Reached:
        """The points' accounts on ``sides`` (those with one), each with its point's time."""
        parts = [Reached(self.frame[f"{side}_code"].to_numpy(np.int64), self.s) for side in sides]
        return Reached.union(parts).with_account()

    def tokens(self) -> pd.DataFrame:
        """``code, token`` of the points' own accounts."""
        parts = [
            self.frame[[f"{side}_code", side]].set_axis(["code", "token"], axis=1) for side in SIDES
        ]
        both = pd.concat(parts, ignore_index=True)
        return both[both["token"].notna()].drop_duplicates()


@dataclass(frozen=True)
class Reached:
    """Accounts (codes) reached from changes at times ``s``, and the index positions of the
    rows walked over to reach them (``via``; none for a change's own accounts)."""

    code: np.ndarray
    s: np.ndarray
    via: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))

    @classmethod
    def union(cls, parts: list[Reached]) -> Reached:
        return cls(
            np.concatenate([p.code for p in parts]),
            np.concatenate([p.s for p in parts]),
            np.concatenate([p.via for p in parts]),
        )

    def with_account(self) -> Reached:
        held = self.code != NO_ACCOUNT
        return Reached(self.code[held], self.s[held], self.via)


def _walk_back(points: Points, index: RowIndex, window: int, steps: int) -> Reached:
    """The changed rows' senders and every account that can precede them in a chain of at most
    ``steps`` earlier legs, each at most ``window`` before the change and before the leg it
    leads to: a leg into the frontier's account at ``[s - window, at)``."""
    start = points.accounts(("sender",))
    code, s, at = start.code, start.s, start.s
    parts = [start]
    for _ in range(steps):
        query, position = index.rows_of("receiver", code, s - window, at - 1)
        sender = index.sender[position]
        held = sender != NO_ACCOUNT
        query, position = query[held], position[held]
        step = np.unique(
            np.stack([sender[held], s[query], index.s[position]], axis=1).reshape(-1, 3), axis=0
        )
        code, s, at = step[:, 0], step[:, 1], step[:, 2]
        parts.append(Reached(code, s, position))
    return Reached.union(parts)


def _payers_after(points: Points, index: RowIndex, history: int) -> Reached:
    """The senders of today's payments to a changed row's sender or receiver within
    ``(s, s + history]``, whose payee's "unseen" status the change can alter."""
    payees = points.accounts(SIDES)
    query, position = index.rows_of("receiver", payees.code, payees.s + 1, payees.s + history)
    payer = index.sender[position]
    held = payer != NO_ACCOUNT
    return Reached(payer[held], payees.s[query[held]], position[held])


def _neighbours(points: Points, index: RowIndex, window: int) -> Reached:
    """The changed rows' senders and receivers, and every account that sent to or received
    from one of them within ``window`` of the change (either way)."""
    ends = points.accounts(SIDES)
    parts = [ends]
    for own, other in (SIDES, SIDES[::-1]):
        query, position = index.rows_of(own, ends.code, ends.s - window, ends.s + window)
        account = getattr(index, other)[position]
        held = account != NO_ACCOUNT
        parts.append(Reached(account[held], ends.s[query[held]], position[held]))
    return Reached.union(parts)


def _walks(rule: Rule) -> bool:
    """Whether the rule's scope reaches accounts that are not on the changed rows."""
    return rule.kind in GRAPH_KINDS or rule.kind == "round_trip" or unseen_payees(rule)


def _rule_accounts(rule: Rule, points: Points, index: RowIndex | None) -> Reached:
    if rule.kind in GRAPH_KINDS:
        # a block's hit edge is at most W from each of its edges, so its accounts share an edge
        # with the changed one's within 2 W; a path's middle is within W of either leg
        return _neighbours(points, index, 2 * rule.seconds("window_seconds"))
    if rule.kind == "round_trip":
        steps = int(rule.param("max_legs")) - 1
        return _walk_back(points, index, rule.seconds("window_seconds"), steps)
    own = points.accounts(subject_sides(rule))
    if unseen_payees(rule):
        return Reached.union([own, _payers_after(points, index, rule.seconds("history_seconds"))])
    return own


def _intervals(rule: Rule, reached: Reached) -> pd.DataFrame:
    """``rule_id, code, lo_s, hi_s``: per account reached, the rule's reach around the first
    and the last change that reached it."""
    before, after = reach(rule)
    grouped = (
        pd.DataFrame({"code": reached.code, "s": reached.s})
        .groupby("code", as_index=False)
        .agg(lo_s=("s", "min"), hi_s=("s", "max"))
    )
    return grouped.assign(
        rule_id=rule.id, lo_s=grouped["lo_s"] - before, hi_s=grouped["hi_s"] + after
    )


def _span(rule: Rule, points: Points) -> pd.DataFrame:
    """One row with a null subject (every subject) over the changes' whole span: a block, a
    path or a peer group can put a change under accounts that are not on the changed row."""
    before, after = reach(rule)
    return pd.DataFrame(
        {
            "rule_id": [rule.id],
            "subject_token": [None],
            "lo_s": [int(points.s.min()) - before],
            "hi_s": [int(points.s.max()) + after],
        }
    )


def build_scope(
    changes_df: DataFrame, tx_df: DataFrame, pack: RulePack, index: RowIndex | None = None
) -> DataFrame:
    """``rule_id, subject_token, lo_s, hi_s`` for every rule and affected subject.

    A null ``subject_token`` (span kinds) means every subject over ``[lo_s, hi_s]``.

    Args:
        changes_df: silver change-feed rows (every change type) since gold last consumed silver.
        tx_df: silver as it is now (for the walks: round trips, payees, graph neighbours).
        pack: the rule pack; only enabled rules get a scope.
        index: ``tx_df``'s row index (:class:`aml.gold.row_index.RowIndex`), built here if
            None and a rule walks.
    """
    spark = tx_df.sparkSession
    points = Points.of(changes_df)
    if points.frame.empty:
        return spark.createDataFrame([], SCOPE_SCHEMA)
    if index is None and any(_walks(rule) for rule in pack.enabled):
        index = RowIndex.of(tx_df)
    spans, coded, walked = [], [], []
    for rule in pack.enabled:
        if rule.kind in SPAN_KINDS:
            spans.append(_span(rule, points))
            continue
        reached = _rule_accounts(rule, points, index)
        coded.append(_intervals(rule, reached))
        walked.append(reached.via)
    tokens = points.tokens()
    via = np.unique(np.concatenate(walked)) if walked else np.empty(0, dtype=np.int64)
    if via.size:
        # the tokens of the accounts the walks reached, from the rows they walked over
        tokens = pd.concat([tokens, tokens_by_id(tx_df, index.ids[via])]).drop_duplicates()
    parts = spans
    if coded:
        by_code = pd.concat(coded, ignore_index=True)
        tokens = tokens.astype({"code": np.int64})
        parts.append(by_code.merge(tokens, on="code").rename(columns={"token": "subject_token"}))
    if not parts:
        return spark.createDataFrame([], SCOPE_SCHEMA)
    scope = pd.concat([part[list(SCOPE_COLUMNS)] for part in parts], ignore_index=True)
    return spark.createDataFrame(scope, SCOPE_SCHEMA)
