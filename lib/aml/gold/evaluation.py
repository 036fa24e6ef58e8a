"""Evaluating the rule pack: silver rows (all, or the scoped subjects') -> identified rule hits.

The one entry point the batch job and the streaming job share. With no scope it evaluates every
subject (a full rebuild). With a scope (:mod:`aml.gold.scope`) it evaluates, per rule, only the
listed subjects, reading their rows over the interval that can influence hits in
``[lo_s, hi_s]`` and returning only the hits inside it, which are then exactly the hits a full
evaluation would give there.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from aml.frames import union_all
from aml.gold import profiles
from aml.gold import rules as rule_sql
from aml.gold.row_index import NO_ACCOUNT, RowIndex, rows_by_id, scope_entries
from aml.gold.rulepack import Rule, RulePack

log = logging.getLogger(__name__)

HIT_COLUMNS = (
    "hit_id", "rule_id", "rule_name", "rule_version", "param_hash", "transaction_id",
    "subject_token", "subject_role", "event_ts", "event_date", "amount", "base_severity",
    "subject_is_pep", "subject_is_high_risk", "alert_id", "silver_version", "run_id",
    "evaluated_at",
)  # fmt: skip
SCOPE_SCHEMA = "rule_id STRING, subject_token STRING, lo_s BIGINT, hi_s BIGINT"
# The columns of silver.transactions the rules read (silver has more: they read no others)
RULE_INPUT_SCHEMA = (
    "transaction_id BIGINT, event_ts TIMESTAMP, amount DECIMAL(14,2), payment_type STRING, "
    "is_cash BOOLEAN, sender_account_token STRING, receiver_account_token STRING, "
    "sender_bank_location STRING, receiver_bank_location STRING, "
    "is_high_risk_jurisdiction BOOLEAN, is_fatf_blacklisted BOOLEAN, sender_is_pep BOOLEAN, "
    "sender_customer_risk_rating STRING, receiver_is_pep BOOLEAN, "
    "receiver_customer_risk_rating STRING"
)
# Their names, in that order (no type above has a ", " inside it: DECIMAL(14,2) has none)
RULE_INPUT_COLUMNS = tuple(field.split()[0] for field in RULE_INPUT_SCHEMA.split(", "))


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


@dataclass(frozen=True)
class ScopePolicy:
    """When an incremental run evaluates more than its scope, because that costs less.

    Either way the result is exact: the hits of a full pass, cut to the scope, are the hits of
    the scoped pass (the scope's contract, :mod:`aml.gold.scope`), and a full evaluation stated
    as changes to what is published (:func:`aml.gold.changes.as_merge`) is what a rebuild would
    publish. What differs is the cost. A scoped run pays for its scope (the walks, semi-joins of
    silver with the scope, materialised, the graph rules' neighbourhoods) before any rule runs;
    measured at 1M rows (docs/BENCHMARKS.md), that machinery costs more than a full evaluation
    once more than about 0.1-1 % of silver changed.

    Attributes:
        full_evaluation_share: the share of silver's rows changed (distinct transaction ids in
            the change feed) above which the run evaluates every subject and publishes the
            difference (1.0: never).
        full_pass_share: within a scoped run, the share of silver's rows above which a rule
            reads all of them (1.0: only when it would read every row anyway).
    """

    full_evaluation_share: float = 1.0
    full_pass_share: float = 1.0

    @classmethod
    def from_settings(cls, gold: dict[str, Any]) -> ScopePolicy:
        """``[gold] full_evaluation_share`` (default 0.01) and ``full_pass_share`` (0.3)."""
        shares = {
            name: float(gold.get(name, default))
            for name, default in (("full_evaluation_share", 0.01), ("full_pass_share", 0.3))
        }
        for name, share in shares.items():
            if not 0.0 <= share <= 1.0:
                raise ValueError(f"[gold] {name} must be in [0, 1], got {share}")
        return cls(**shares)

    def evaluate_all(self, changed: int, silver_rows: int) -> bool:
        """Whether a run with ``changed`` of ``silver_rows`` rows changed evaluates them all."""
        return changed > self.full_evaluation_share * silver_rows

    def full_pass(self, rows: int, silver_rows: int) -> bool:
        """Whether a rule that would read ``rows`` of ``silver_rows`` reads them all instead."""
        return rows > self.full_pass_share * silver_rows


# Kinds whose hits depend on a peer group (the segment's accounts in the payment's week, with
# their histories). A scoped run evaluates them over every row of the affected time span, not
# over the subjects' own rows.
SPAN_KINDS = ("peer_amount_outlier",)

# Kinds whose hits depend on other accounts' rows one or two edges away: blocks and paths
# through intermediaries. A scoped run evaluates them for the accounts around the changed
# edges (:func:`aml.gold.scope._neighbours`), over the rows of their neighbourhood
# (:func:`_reached_rows`).
GRAPH_KINDS = ("bipartite", "scatter_gather")

# A reach or margin without bound, in seconds (about 3,000 years, beyond any event time): a
# dormant wake-up depends on its subject's first row ever.
UNBOUNDED = 10**11

DAY_SECONDS = 86_400


def subject_sides(rule: Rule) -> tuple[str, ...]:
    """Which side(s) of a transaction carry the rule's subject (either side of a row is
    activity that can wake, or keep awake, a dormant account)."""
    if rule.kind in ("trailing_window", "fan_burst"):
        return (rule.param("subject"),)
    if rule.kind in (
        "rapid_pass_through",
        "cash_out_after_inflow",
        "gather_scatter",
        "dormant_wakeup",
    ):
        return ("sender", "receiver")
    return ("sender",)


def unseen_payees(rule: Rule) -> bool:
    """A velocity spike that counts unseen payees: its hits depend on its payees' own rows."""
    return rule.kind == "velocity_spike" and rule.param("min_unseen_counterparties") is not None


def reads_other_accounts(rule: Rule) -> bool:
    """Kinds scoped by subject whose SQL also reads other accounts' rows (``{tx}``; the
    subject's own rows are ``{first}``): graph rules' blocks and paths, a round trip's later
    legs, the payees' rows of an unseen-payee spike (:func:`_walk_out` says which)."""
    return rule.kind in GRAPH_KINDS or rule.kind == "round_trip" or unseen_payees(rule)


def _peer_weeks(rule: Rule) -> int:
    """Seconds from a row to the end of the last week whose peer group it can change: the ISO
    week it falls in and every week whose profile window ``[week - H, week)`` holds it."""
    return (profiles.ProfileParams.from_mapping(rule.params).history_days + 7) * DAY_SECONDS


def reach(rule: Rule) -> tuple[int, int]:
    """(before, after): a change at ``s`` can alter the subject's hits in
    ``[s - before, s + after]``.

    Flag-all windows of width W: triggers in ``[s, s + W]`` flag rows back to ``t - W``; the
    velocity spike's history reaches H forward (H + S when it counts unseen payees: a payee's
    row decides the payments to it in the H after); chains and pass-throughs span W either way.
    A peer group is a week's accounts, profiled over the H days before the week: a change moves
    the groups of its own week and of the weeks up to ``s + H`` (every subject's hits there). A
    dormant wake-up's window totals reach W back; its silences reach D forward and its first
    row (an account's first row deleted or moved) reaches every later wake-up.
    """
    kind = rule.kind
    if kind in ("large_amount", "high_risk_jurisdiction"):
        return 0, 0
    if kind == "velocity_spike":
        spike, history = rule.seconds("spike_seconds"), rule.seconds("history_seconds")
        # a payee's row at s decides whether the payments to it in (s, s + H] are unseen, and
        # they sit in the spikes of triggers up to S later
        return spike, history + (spike if unseen_payees(rule) else 0)
    if kind == "new_account_large":
        return 0, rule.seconds("history_seconds")
    if kind == "peer_amount_outlier":
        return 7 * DAY_SECONDS, _peer_weeks(rule)
    window = rule.seconds("window_seconds")
    if kind == "dormant_wakeup":
        return window, UNBOUNDED
    if kind in ("fan_burst", "new_corridor"):
        # triggers in [s, s + W + H] (s inside their history or window) flag rows back to t - W
        return window, window + rule.seconds("history_seconds")
    if kind == "scatter_gather":
        # a path's qualification looks W either way along its source's paths, each W long
        return 2 * window, 2 * window
    return window, window


def margin(rule: Rule) -> tuple[int, int]:
    """(before, after): rows needed around ``[lo, hi]`` to decide every hit inside it exactly.

    A peer rule needs the whole weeks of its hits and their profile windows; a wake-up needs its
    subject's whole history before it (the first row, the silence) and W after."""
    if rule.kind == "velocity_spike":
        return rule.seconds("history_seconds"), rule.seconds("spike_seconds")
    if rule.kind == "new_account_large":
        return rule.seconds("history_seconds"), 0
    if rule.kind in ("fan_burst", "new_corridor"):
        window = rule.seconds("window_seconds")
        return window + rule.seconds("history_seconds"), window
    if rule.kind == "peer_amount_outlier":
        return _peer_weeks(rule), 7 * DAY_SECONDS
    if rule.kind == "dormant_wakeup":
        return UNBOUNDED, rule.seconds("window_seconds")
    return reach(rule)


def _ts_s(df: DataFrame) -> Column:
    return F.unix_seconds(df["event_ts"])


def _widened(entries: pd.DataFrame, rules: list[Rule]) -> pd.DataFrame:
    """``side, code, lo_s, hi_s``: per side and subject (coded), the union (hull) of the scoped
    intervals of ``rules`` widened by each rule's margin: the rows every one of them needs."""
    margins = pd.DataFrame(
        [(rule.id, side, *margin(rule)) for rule in rules for side in subject_sides(rule)],
        columns=["rule_id", "side", "before", "after"],
    )
    subjects = entries[entries["code"] != NO_ACCOUNT].merge(margins, on="rule_id", how="inner")
    return (
        subjects.assign(
            lo_s=subjects["lo_s"] - subjects["before"],
            hi_s=subjects["hi_s"] + subjects["after"],
        )
        .groupby(["side", "code"], as_index=False)
        .agg(lo_s=("lo_s", "min"), hi_s=("hi_s", "max"))
    )


def _subject_rows(index: RowIndex, entries: pd.DataFrame, rules: list[Rule]) -> np.ndarray:
    """Ids of the rows whose sender or receiver is a subject of ``rules`` on that side, inside
    its widened interval (:func:`_widened`): the one row set every subject-scoped rule reads."""
    return index.subject_ids(_widened(entries, rules))


def _walk_out(rule: Rule) -> tuple[int, bool, tuple[int, int]]:
    """(steps, both ways, (before, after)): how many edges from a scoped subject the other
    accounts whose rows its hits rest on can lie, whether the walk follows edges backwards too,
    and the rows needed around the scoped interval, for a rule of :func:`reads_other_accounts`.

    A block's edges ``S->R2``, ``S2->R``, ``S2->R2`` around a hit edge ``S->R`` each touch an
    account one edge from the subject (R2, R; or S2, S); a path ``S->M->C`` of source S (sink C)
    runs through a middle one edge away, as does every other path between the same two
    accounts, and the paths through the subject as a middle (its flags) run from its payers to
    its payees. A round trip's later legs are sent by accounts at most ``max_legs - 1`` edges
    forward from its origin, all within W after its first leg. A spike's payees are one edge
    forward, and their own rows lie in the H before each payment of the spike."""
    if rule.kind in GRAPH_KINDS:
        return 1, True, margin(rule)
    if rule.kind == "round_trip":
        return int(rule.param("max_legs")) - 1, False, margin(rule)
    spike, history = rule.seconds("spike_seconds"), rule.seconds("history_seconds")
    return 1, False, (spike + history, spike)


def _reached_rows(index: RowIndex, entries: pd.DataFrame, rules: list[Rule]) -> np.ndarray | None:
    """Ids of the rows that decide every hit of the scoped subjects of ``rules`` (those of
    :func:`reads_other_accounts`), or None when they have no scope: inside the hull of their
    intervals widened as :func:`_walk_out` says, every row whose sender or receiver is a subject
    or an account its walk reaches there.

    A superset of what each rule reads in a full evaluation for those subjects: a block, a path,
    a chain or a payee's activity found among some of silver's rows is one among all of them
    (a payee's activity is read whole, every row touching it in the hull), so the extra rows
    can only change hits of accounts outside the scope, which the cut drops. The walks run over
    the index (:mod:`aml.gold.row_index`); only the rows reached are read from silver."""
    windows = _span_windows(entries, rules, lambda rule: _walk_out(rule)[2])
    if not windows:
        return None
    walks = []
    for rule in rules:
        steps, both_ways, _ = _walk_out(rule)
        start = entries.loc[entries["rule_id"] == rule.id, "code"].to_numpy(np.int64)
        walks.append((start, steps, both_ways))
    hull = (min(w[0] for w in windows.values()), max(w[1] for w in windows.values()))
    return index.reached_ids(walks, hull)


def _span_windows(
    entries: pd.DataFrame,
    rules: list[Rule],
    widening: Callable[[Rule], tuple[int, int]] | None = None,
) -> dict[str, tuple[int, int]]:
    """Rule id -> the rows (epoch seconds, inclusive) a rule needs around its scope: the span of
    its scope's intervals (``entries``: :func:`aml.gold.row_index.scope_entries`) widened by
    ``widening`` (default: its margin). Rules with no scope entry are left out."""
    by_id = {rule.id: rule for rule in rules}
    spans = (
        entries[entries["rule_id"].isin(list(by_id))]
        .groupby("rule_id")
        .agg(lo=("lo_s", "min"), hi=("hi_s", "max"))
    )
    windows = {}
    for rule_id, span in spans.iterrows():
        before, after = (widening or margin)(by_id[rule_id])
        windows[rule_id] = (int(span["lo"]) - before, int(span["hi"]) + after)
    return windows


def _in_window(tx_df: DataFrame, window: tuple[int, int]) -> Column:
    return (_ts_s(tx_df) >= window[0]) & (_ts_s(tx_df) <= window[1])


def _window_rows(tx_df: DataFrame, windows: dict[str, tuple[int, int]]) -> dict[str, int]:
    """Rule id -> how many rows of ``tx_df`` its window holds (one pass for all of them)."""
    if not windows:
        return {}
    counts = tx_df.agg(
        *[
            F.count(F.when(_in_window(tx_df, window), True)).alias(rule_id)
            for rule_id, window in windows.items()
        ]
    ).first()
    return {rule_id: counts[rule_id] for rule_id in windows}


def raw_hits(spark: SparkSession, tx_df: DataFrame, rule: Rule) -> DataFrame:
    """The rule's hits (columns of :data:`aml.gold.rules.HIT_COLUMNS`) over all of ``tx_df``."""
    return spark.sql(rule_sql.sql(rule), tx=tx_df, first=tx_df)


def _scoped_raw_hits(
    spark: SparkSession,
    tx_df: DataFrame,
    rules: list[Rule],
    scope_df: DataFrame,
    policy: ScopePolicy,
    index: RowIndex | None = None,
) -> dict[str, DataFrame]:
    """Rule id -> the rule's hits over the rows its scope needs (not yet cut to the scope).

    Every rule scoped by subject reads one shared row set: for each side and subject, its rows
    over the hull of what each rule needs. A rule finds the same hits inside its own scope on a
    superset as on its own rows: the extra rows are the subject's own rows outside the rule's
    margin, which cannot change a hit inside it, or other accounts' rows, whose hits the scope
    then drops (a subject is always read in full over its margin). The rules that read other
    accounts' rows (:func:`reads_other_accounts`: graph rules, round trips' later legs, a
    spike's payees) share the rows their walks from the scoped subjects reach
    (:func:`_reached_rows`). Span rules (the peer kind, :data:`SPAN_KINDS`) read every
    row of their scope's time span, those that stay scoped sharing one read of the hull of their
    spans. All of silver is the largest superset: a rule that ``policy`` sends to a full pass
    reads it.
    """
    silver_rows = tx_df.count()
    by_subject = [r for r in rules if r.kind not in SPAN_KINDS + GRAPH_KINDS]
    graphs = [r for r in rules if r.kind in GRAPH_KINDS]
    spanned = [r for r in rules if r.kind in SPAN_KINDS]
    out: dict[str, DataFrame] = {}
    decisions: list[str] = []
    full_pass: list[str] = []
    # the scope and silver's accounts and times in the driver: the row sets below are found
    # there and read from silver by id, one semi-join each (aml.gold.row_index)
    entries = scope_entries(scope_df)
    others = [r for r in rules if reads_other_accounts(r)]
    if index is None and (by_subject or others):
        index = RowIndex.of(tx_df)
    # graph rules, a round trip's later legs and a spike's payees read other accounts' rows:
    # the rows the walks from their subjects reach, one set for all of them
    others_df = None
    if others:
        ids = _reached_rows(index, entries, others)
        # nothing of these rules in scope: their hits are cut away whatever they read
        rows = 0 if ids is None else int(ids.size)
        decisions.append(f"other accounts {rows}")
        if policy.full_pass(rows, silver_rows):
            others_df = tx_df
            full_pass.extend(rule.id for rule in graphs)
        else:
            others_df = tx_df.limit(0) if ids is None else rows_by_id(tx_df, ids)
    if by_subject:
        ids = _subject_rows(index, entries, by_subject)
        decisions.append(f"subject rules {ids.size}")
        rows_df = None if policy.full_pass(ids.size, silver_rows) else rows_by_id(tx_df, ids)
        for rule in by_subject:
            if rows_df is None:
                out[rule.id] = raw_hits(spark, tx_df, rule)
                full_pass.append(rule.id)
                continue
            later_df = others_df if reads_other_accounts(rule) else rows_df
            out[rule.id] = spark.sql(rule_sql.sql(rule), tx=later_df, first=rows_df)
    for rule in graphs:
        out[rule.id] = raw_hits(spark, others_df, rule)
    if spanned:
        windows = _span_windows(entries, spanned)
        counts = _window_rows(tx_df, windows)
        decisions.extend(f"{rule_id} {rows}" for rule_id, rows in counts.items())
        scoped = {
            rule_id: windows[rule_id]
            for rule_id, rows in counts.items()
            if not policy.full_pass(rows, silver_rows)
        }
        if scoped:
            hull = (min(w[0] for w in scoped.values()), max(w[1] for w in scoped.values()))
            span_df = tx_df.where(_in_window(tx_df, hull)).localCheckpoint()
        for rule in spanned:
            if rule.id not in windows:
                # nothing of this rule is in scope: its hits are cut away whatever it reads
                out[rule.id] = raw_hits(spark, tx_df.limit(0), rule)
            elif rule.id in scoped:
                out[rule.id] = spark.sql(rule_sql.sql(rule), tx=span_df, first=span_df)
            else:
                out[rule.id] = raw_hits(spark, tx_df, rule)
                full_pass.append(rule.id)
    log.info(
        "gold: scoped evaluation over %d silver rows (rows read: %s); full pass: %s",
        silver_rows, ", ".join(decisions) or "-", ", ".join(full_pass) or "none",
    )  # fmt: skip
    return out


def _semi_in(hits_df: DataFrame, entries_df: DataFrame, on_subject: bool) -> DataFrame:
    """Hits with an entry of their rule (and, ``on_subject``, of their subject) whose
    ``[lo_s, hi_s]`` holds the hit's time: an equi-join, so a hash join."""
    ts_s = F.unix_seconds(hits_df["event_ts"])
    condition = (
        (hits_df["rule_id"] == entries_df["rule_id"])
        & (ts_s >= entries_df["lo_s"])
        & (ts_s <= entries_df["hi_s"])
    )
    if on_subject:
        condition &= hits_df["subject_token"] == entries_df["subject_token"]
    return hits_df.join(entries_df, on=condition, how="left_semi")


def _inside(
    subject_hits_df: DataFrame | None, span_hits_df: DataFrame | None, scope_df: DataFrame
) -> DataFrame:
    """Identified hits cut to their rule's scope: a rule scoped by subject (``subject_hits_df``,
    graph rules included) by its entries for the hit's subject, a span rule
    (:data:`SPAN_KINDS`, ``span_hits_df``) by its null-subject entries, which cover every
    subject (:func:`aml.gold.scope.build_scope` writes no other kind of entry for either).
    Each kind's hits are read once, by one equi-join on (rule, subject) or on the rule, so the
    cut costs a hash join, not a comparison of every hit with every entry; the two sets are
    disjoint (a hit id names its rule)."""
    by_subject_df = scope_df.where(F.col("subject_token").isNotNull())
    every_df = scope_df.where(F.col("subject_token").isNull()).drop("subject_token")
    cut = []
    if subject_hits_df is not None:
        cut.append(_semi_in(subject_hits_df, by_subject_df, on_subject=True))
    if span_hits_df is not None:
        cut.append(_semi_in(span_hits_df, every_df, on_subject=False))
    return union_all(cut)


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
    policy: ScopePolicy | None = None,
    index: RowIndex | None = None,
) -> DataFrame:
    """Hits of every enabled rule: over all of ``tx_df``, or only inside ``scope_df``.

    Args:
        tx_df: silver transactions (tokens, never account numbers; labels are not read).
        pack: the rule pack.
        lineage: silver version, run and time stamped on every hit.
        scope_df: ``rule_id, subject_token, lo_s, hi_s`` (:data:`SCOPE_SCHEMA`), or None for all.
        policy: which scoped rules read all of silver instead (default: none do).
        index: ``tx_df``'s row index (:class:`aml.gold.row_index.RowIndex`) for a scoped
            evaluation, built here if None (the scope's walks read the same one).
    """
    rules = list(pack.enabled)
    if scope_df is None:
        raw = {rule.id: raw_hits(spark, tx_df, rule) for rule in rules}
    else:
        raw = _scoped_raw_hits(spark, tx_df, rules, scope_df, policy or ScopePolicy(), index)
    parts = {rule.id: with_identity(raw[rule.id], rule, lineage) for rule in rules}
    if scope_df is None:
        return union_all(list(parts.values()))
    # graph rules' scopes name their subjects, as the rules read by subject do
    subject_parts = [parts[r.id] for r in rules if r.kind not in SPAN_KINDS]
    span_parts = [parts[r.id] for r in rules if r.kind in SPAN_KINDS]
    return _inside(
        union_all(subject_parts) if subject_parts else None,
        union_all(span_parts) if span_parts else None,
        scope_df,
    )
