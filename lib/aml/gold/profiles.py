"""Behavioural baselines as data: ``gold.account_profiles`` and ``gold.segment_profiles``.

A profile says what an account did in the trailing window ``[week_start - H, week_start)``
before an ISO week it is active in: what a rule judging that week's transactions may compare
against without looking ahead. Segments group accounts of similar behaviour (bands of activity,
breadth, cash, cross-border, KYC risk) so a rule can also compare an account with its peers.
``docs/RULES_V2.md`` ("Behavioural profiles") is the specification.

Everything is Spark SQL text built here and run over ``{tx}``, so the rule kinds that use the
baselines (:mod:`aml.gold.rules_v2`) embed the very same CTEs and agree with the tables to the
row. Each row of the window is copied to the at most ``ceil(H / 7)`` weeks whose window holds it
and kept only where the account is active: linear in the rows, one output row per active
account-week, where a per-row sliding window would re-aggregate its whole frame on every row.
Percentiles are exact and decimal (linear interpolation between closest ranks, as Spark's
``percentile`` and numpy's default, without its floating point), so they can be redone by hand.

Longer than the usual module: parameters, SQL and publication of the two tables stay together
until the gold job calls them (the publication would then move next to :mod:`aml.gold.publish`).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import logging
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

import numpy as np
import pandas as pd
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aml import delta_io
from aml.config import Config, ConfigError
from aml.gold import rulepack
from aml.gold.row_index import SIDES, RowIndex, account_code, rows_with_ids
from aml.gold.rules import VALID, literal

log = logging.getLogger(__name__)

# the first second of an account's rows a refresh reads: all of them (its first row ever)
EARLIEST = int(np.iinfo(np.int64).min)

KEY = "profile_key"
ACCOUNT_PROFILE_COLUMNS = (
    "profile_key", "account_token", "week_start", "window_days", "history_days",
    "days_since_last_activity", "sent_count", "sent_amount_sum", "sent_amount_max",
    "sent_amount_median", "received_count", "received_amount_sum", "distinct_payees",
    "distinct_payers", "cash_count", "cash_share", "cross_border_count", "cross_border_share",
    "payment_types", "corridors", "customer_risk_rating", "is_pep", "activity_band",
    "counterparty_band", "cash_band", "cross_border_band", "risk_band", "segment_id",
    "params_hash",
)  # fmt: skip
# gold.account_profiles' files as a full rebuild writes them (about 8 MB each at 1M silver rows),
# in ranges of these columns; a scoped refresh lays either table out again in its ranges once it
# has more than RELAYOUT_FACTOR times the files that makes, plus SPARE_FILES (keep_laid_out)
ROWS_PER_FILE = 100_000
ACCOUNT_RANGES = ("account_token", "week_start")
SEGMENT_RANGES = ("segment_id", "week_start")
RELAYOUT_FACTOR = 2
SPARE_FILES = 8
# A scoped refresh of at most this many accounts replaces their rows by a literal predicate
# (replaceWhere, reading only the files whose ranges hold them) rather than a keyed MERGE over
# every file: at 1M silver rows one row's two accounts took 0.21 of the MERGE's time; a wider
# scope lists more accounts and touches more files, and past a few thousand accounts the MERGE
# costs less (docs/BENCHMARKS.md, "One row's profile refresh").
REPLACE_MAX_ACCOUNTS = 2_000
SEGMENT_PROFILE_COLUMNS = (
    "profile_key", "segment_id", "week_start", "account_count", "sender_count",
    "sent_amount_max_p50", "sent_amount_max_p90", "sent_amount_max_p99", "distinct_payees_p50",
    "distinct_payees_p90", "distinct_payees_p99", "params_hash",
)  # fmt: skip


def _whole(name: str, value: Any) -> int:
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigError(f"profiles: {name} must be a whole number, got {value!r}") from exc
    if isinstance(value, bool) or not number.is_finite() or number != int(number):
        raise ConfigError(f"profiles: {name} must be a whole number, got {value!r}")
    return int(number)


def _edges(name: str, values: Any, first: int) -> tuple[int, ...]:
    if not isinstance(values, list | tuple) or not values:
        raise ConfigError(f"profiles: {name} must be a non-empty list, got {values!r}")
    edges = tuple(_whole(name, v) for v in values)
    if edges[0] < first or any(b <= a for a, b in zip(edges, edges[1:], strict=False)):
        raise ConfigError(f"profiles: {name} must rise strictly from >= {first}, got {values!r}")
    return edges


def _share(name: str, value: Any) -> Decimal:
    try:
        share = Decimal(str(value))
    except InvalidOperation as exc:
        raise ConfigError(f"profiles: {name} must be a number, got {value!r}") from exc
    if not Decimal(0) <= share <= Decimal(1):
        raise ConfigError(f"profiles: {name} must be within [0, 1], got {value!r}")
    return share


@dataclass(frozen=True)
class ProfileParams:
    """The window and band edges (``[profiles]`` of the rule pack TOML; these are the defaults).

    Attributes:
        history_days: H, the trailing window ``[week_start - H days, week_start)``.
        activity_edges: band ``A<i>`` = how many edges the window's sent + received count
            reaches; the first edge is 1, so ``A0`` is exactly "no history" (a new account).
        counterparty_edges: band ``C<i>`` likewise, on distinct payees + distinct payers.
        cash_high_share: ``K2`` from this share of cash rows on (``K1`` below it, ``K0`` none).
        cross_border_share_gt: ``X1`` when the share of cross-border rows exceeds it.
    """

    history_days: int = 90
    activity_edges: tuple[int, ...] = (1, 5, 20, 100)
    counterparty_edges: tuple[int, ...] = (1, 3, 10, 30)
    cash_high_share: Decimal = Decimal("0.5")
    cross_border_share_gt: Decimal = Decimal("0")

    def __post_init__(self) -> None:
        if _whole("history_days", self.history_days) < 1:
            raise ConfigError(f"profiles: history_days must be >= 1, got {self.history_days}")
        checked = {
            "history_days": int(self.history_days),
            "activity_edges": _edges("activity_edges", self.activity_edges, 1),
            "counterparty_edges": _edges("counterparty_edges", self.counterparty_edges, 1),
            "cash_high_share": _share("cash_high_share", self.cash_high_share),
            "cross_border_share_gt": _share("cross_border_share_gt", self.cross_border_share_gt),
        }
        if checked["activity_edges"][0] != 1:
            raise ConfigError("profiles: the first activity edge must be 1 (A0 = no history)")
        for name, value in checked.items():
            object.__setattr__(self, name, value)

    @classmethod
    def from_mapping(cls, values: Mapping[str, Any]) -> ProfileParams:
        """The parameters named in ``values`` (others keep their default; unknown keys ignored,
        so a rule's ``params`` can carry its own thresholds besides these)."""
        names = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in names})

    @property
    def hash(self) -> str:
        """First 16 hex chars of sha256 over the canonical JSON of the parameters."""
        canonical = json.dumps(asdict(self), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def load_params(config: Config, relative: str | None = None) -> ProfileParams:
    """``[profiles]`` of the rule pack file :func:`aml.gold.rulepack.load` reads (defaults when
    the table is absent)."""
    relative = relative or config.data.get("gold", {}).get("rule_pack", rulepack.DEFAULT_PACK)
    path = config.root / "conf" / rulepack.PACK_NAMES.get(relative, relative)
    if not path.exists():
        raise ConfigError(f"rule pack {path} not found")
    with path.open("rb") as fh:
        return ProfileParams.from_mapping(tomllib.load(fh).get("profiles", {}))


@dataclass(frozen=True)
class ProfileScope:
    """Some accounts (``accounts_df.account_token``) over the weeks ``first_week..last_week``
    (Mondays, both included)."""

    accounts_df: DataFrame
    first_week: dt.date
    last_week: dt.date

    def __post_init__(self) -> None:
        for day in (self.first_week, self.last_week):
            if day.weekday() != 0:
                raise ConfigError(f"profiles: a week is named by its Monday, got {day}")
        if self.first_week > self.last_week:
            raise ConfigError("profiles: first_week is after last_week")


def percentile(values: str, p: str, cast: str) -> str:
    """The exact p-th percentile of a sorted array: ``v[floor(r)] + (r - floor(r)) *
    (v[ceil(r)] - v[floor(r)])`` with ``r = p * (n - 1)`` (0-based), in decimal; null when empty."""
    r = f"(CAST({p} AS DECIMAL(3,2)) * (size({values}) - 1))"
    low = f"try_element_at({values}, CAST(floor({r}) AS INT) + 1)"
    high = f"try_element_at({values}, CAST(ceil({r}) AS INT) + 1)"
    return (
        f"CASE WHEN size({values}) > 0 THEN "
        f"CAST({low} + ({r} - floor({r})) * ({high} - {low}) AS {cast}) END"
    )


def _side(side: str, other: str, account_filter: str) -> str:
    corridor = (
        "concat(sender_bank_location, '>', receiver_bank_location)" if side == "sender" else "NULL"
    )
    return f"""
  SELECT {side}_account_token AS account_token, {str(side == "sender").upper()} AS is_sent,
         transaction_id, event_ts, unix_seconds(event_ts) AS ts_s, to_date(event_ts) AS event_date,
         to_date(date_trunc('WEEK', event_ts)) AS week_start, {other}_account_token AS counterparty,
         amount, coalesce(is_cash, FALSE) AS is_cash,
         coalesce(sender_bank_location <> receiver_bank_location, FALSE) AS is_cross_border,
         payment_type, {corridor} AS corridor, {side}_customer_risk_rating AS risk_rating,
         {side}_is_pep AS is_pep
  FROM {{tx}}
  WHERE {VALID} AND {side}_account_token IS NOT NULL{account_filter}"""


def sides_cte(scope: ProfileScope | None = None) -> str:
    """``sides``: one row per valid transaction and side with a token (a self-transfer is a sent
    and a received row of its account). A scope keeps its accounts' rows before its last week's
    end, and reads them from ``{accounts}``."""
    account_filter = ""
    if scope is not None:
        end = scope.last_week + dt.timedelta(days=7)
        account_filter = f" AND event_ts < CAST(DATE'{end}' AS TIMESTAMP)"
    parts = [
        _side(side, other, account_filter + (
            f" AND {side}_account_token IN (SELECT account_token FROM {{accounts}})"
            if scope is not None else ""
        ))
        for side, other in (("sender", "receiver"), ("receiver", "sender"))
    ]  # fmt: skip
    return f"sides AS ({parts[0]}\n  UNION ALL{parts[1]}\n)"


def _band(prefix: str, value: str, edges: tuple[int, ...]) -> str:
    cases = " ".join(
        f"WHEN {value} >= {e} THEN {i}" for i, e in reversed(list(enumerate(edges, 1)))
    )
    return f"concat('{prefix}', CASE {cases} ELSE 0 END)"


def profile_ctes(params: ProfileParams, scope: ProfileScope | None = None) -> str:
    """The CTEs ``sides`` .. ``profiles`` (one row per active account-week, without the key and
    the parameters' hash): the definitions every reader of the baselines shares."""
    h, week_filter, spread_filter = params.history_days, "", ""
    if scope is not None:
        week_filter = (
            f"WHERE week_start BETWEEN DATE'{scope.first_week}' AND DATE'{scope.last_week}'"
        )
        spread_filter = f" AND event_date >= DATE'{scope.first_week - dt.timedelta(days=h)}'"
    rows = "(sent_count + received_count)"
    empty = "CAST(array() AS ARRAY<STRING>)"
    return f"""{sides_cte(scope)},
weeks AS (
  SELECT account_token, week_start, min(event_date) AS first_date, max(event_date) AS last_date,
         max(CASE WHEN risk_rating IS NOT NULL THEN struct(ts_s, transaction_id, risk_rating) END)
           .risk_rating AS customer_risk_rating,
         max(CASE WHEN is_pep IS NOT NULL THEN struct(ts_s, transaction_id, is_pep) END).is_pep
           AS is_pep
  FROM sides GROUP BY account_token, week_start
),
active AS (
  SELECT * FROM (
    SELECT account_token, week_start, customer_risk_rating, is_pep,
           datediff(week_start, min(first_date) OVER (PARTITION BY account_token
                    ORDER BY week_start ROWS BETWEEN UNBOUNDED PRECEDING AND 1 PRECEDING))
             AS history_days,
           datediff(week_start, lag(last_date) OVER (PARTITION BY account_token
                    ORDER BY week_start)) AS days_since_last_activity
    FROM weeks)
  {week_filter}
),
spread AS (
  SELECT *, explode(sequence(date_add(week_start, 7),
                             to_date(date_trunc('WEEK', date_add(event_date, {h}))),
                             INTERVAL 7 DAYS)) AS profile_week
  FROM sides
  WHERE date_add(week_start, 7) <= date_add(event_date, {h}){spread_filter}
),
history AS (
  SELECT s.account_token, s.profile_week AS week_start,
         count_if(s.is_sent) AS sent_count,
         sum(CASE WHEN s.is_sent THEN s.amount END) AS sent_amount_sum,
         max(CASE WHEN s.is_sent THEN s.amount END) AS sent_amount_max,
         sort_array(collect_list(CASE WHEN s.is_sent THEN s.amount END)) AS sent_amounts,
         count_if(NOT s.is_sent) AS received_count,
         sum(CASE WHEN NOT s.is_sent THEN s.amount END) AS received_amount_sum,
         size(collect_set(CASE WHEN s.is_sent THEN s.counterparty END)) AS distinct_payees,
         size(collect_set(CASE WHEN NOT s.is_sent THEN s.counterparty END)) AS distinct_payers,
         count_if(s.is_cash) AS cash_count,
         count_if(s.is_cross_border) AS cross_border_count,
         sort_array(collect_set(s.payment_type)) AS payment_types,
         sort_array(collect_set(s.corridor)) AS corridors
  FROM spread s LEFT SEMI JOIN active a
    ON a.account_token = s.account_token AND a.week_start = s.profile_week
  GROUP BY s.account_token, s.profile_week
),
counts AS (
  SELECT a.account_token, a.week_start, {h} AS window_days, a.history_days,
         a.days_since_last_activity,
         coalesce(h.sent_count, 0) AS sent_count,
         CAST(coalesce(h.sent_amount_sum, 0) AS DECIMAL(24,2)) AS sent_amount_sum,
         CAST(h.sent_amount_max AS DECIMAL(14,2)) AS sent_amount_max,
         {percentile("h.sent_amounts", "0.50", "DECIMAL(18,4)")} AS sent_amount_median,
         coalesce(h.received_count, 0) AS received_count,
         CAST(coalesce(h.received_amount_sum, 0) AS DECIMAL(24,2)) AS received_amount_sum,
         coalesce(h.distinct_payees, 0) AS distinct_payees,
         coalesce(h.distinct_payers, 0) AS distinct_payers,
         coalesce(h.cash_count, 0) AS cash_count,
         coalesce(h.cross_border_count, 0) AS cross_border_count,
         coalesce(h.payment_types, {empty}) AS payment_types,
         coalesce(h.corridors, {empty}) AS corridors,
         a.customer_risk_rating, a.is_pep
  FROM active a LEFT JOIN history h
    ON h.account_token = a.account_token AND h.week_start = a.week_start
),
banded AS (
  SELECT *,
         CAST(try_divide(CAST(cash_count AS DECIMAL(20,0)), {rows}) AS DECIMAL(7,6)) AS cash_share,
         CAST(try_divide(CAST(cross_border_count AS DECIMAL(20,0)), {rows}) AS DECIMAL(7,6))
           AS cross_border_share,
         {_band("A", rows, params.activity_edges)} AS activity_band,
         {_band("C", "(distinct_payees + distinct_payers)", params.counterparty_edges)}
           AS counterparty_band,
         CASE WHEN cash_count = 0 THEN 'K0'
              WHEN cash_count >= {literal(params.cash_high_share)} * {rows} THEN 'K2'
              ELSE 'K1' END AS cash_band,
         CASE WHEN cross_border_count > {literal(params.cross_border_share_gt)} * {rows}
              THEN 'X1' ELSE 'X0' END AS cross_border_band,
         CASE WHEN customer_risk_rating = 'HIGH' THEN 'R1'
              WHEN customer_risk_rating IS NOT NULL THEN 'R0'
              ELSE 'R?' END AS risk_band
  FROM counts
),
profiles AS (
  SELECT *, concat_ws('|', activity_band, counterparty_band, cash_band, cross_border_band,
                      risk_band) AS segment_id
  FROM banded
)"""


def segment_ctes(source: str, keys: str = "segment_id, week_start") -> str:
    """``segment_values`` and ``segments``: per ``keys`` group of ``source`` (profile rows), the
    accounts, the accounts with sent history, and exact percentiles of their ``sent_amount_max``
    (over those with one) and ``distinct_payees`` (over all)."""
    quantiles = [
        f"{percentile(values, p, cast)} AS {column}_p{p[2:]}"
        for values, column, cast in (
            ("maxima", "sent_amount_max", "DECIMAL(18,4)"),
            ("payees", "distinct_payees", "DECIMAL(12,2)"),
        )
        for p in ("0.50", "0.90", "0.99")
    ]
    separator = ",\n         "
    return f"""segment_values AS (
  SELECT {keys}, count(*) AS account_count, count(sent_amount_max) AS sender_count,
         sort_array(collect_list(sent_amount_max)) AS maxima,
         sort_array(collect_list(distinct_payees)) AS payees
  FROM {source} GROUP BY {keys}
),
segments AS (
  SELECT {keys}, account_count, sender_count,
         {separator.join(quantiles)}
  FROM segment_values
)"""


def _keyed(df: DataFrame, name: str, columns: tuple[str, ...]) -> DataFrame:
    key = F.concat_ws("|", F.col(name), F.date_format("week_start", "yyyy-MM-dd"))
    return df.withColumn(KEY, key).select(*columns)


def _account_rows(
    tx_df: DataFrame, params: ProfileParams, scope: ProfileScope | None, **frames: DataFrame
) -> DataFrame:
    statement = f"WITH {profile_ctes(params, scope)}\nSELECT * FROM profiles"
    rows_df = tx_df.sparkSession.sql(statement, tx=tx_df, **frames)
    return _keyed(
        rows_df.withColumn("params_hash", F.lit(params.hash)),
        "account_token",
        ACCOUNT_PROFILE_COLUMNS,
    )


def account_profiles(tx_df: DataFrame, params: ProfileParams | None = None) -> DataFrame:
    """One row per (account, ISO week) the account is active in (:data:`ACCOUNT_PROFILE_COLUMNS`):
    its trailing window's numbers, bands and segment. Silver rows in; nothing is written."""
    return _account_rows(tx_df, params or ProfileParams(), None)


def account_profiles_for(
    tx_df: DataFrame,
    params: ProfileParams | None,
    accounts_df: DataFrame,
    first_week: dt.date,
    last_week: dt.date,
) -> DataFrame:
    """The rows of :func:`account_profiles` for the accounts of ``accounts_df``
    (``account_token``) and the weeks ``first_week..last_week`` (Mondays, inclusive), computed
    from those accounts' rows only: what a refresh after a silver change needs."""
    scope = ProfileScope(accounts_df, first_week, last_week)
    accounts = accounts_df.select("account_token").distinct()
    return _account_rows(tx_df, params or ProfileParams(), scope, accounts=accounts)


def scope_rows(tx_df: DataFrame, scope: ProfileScope, index: RowIndex | None = None) -> DataFrame:
    """The silver rows :func:`account_profiles_for` reads for ``scope``: those with a scope
    account on either side, before the end of its last week. A DataFrame to materialise
    (:func:`aml.frames.held`) before handing it over: the profile SQL reads it several times.

    With ``tx_df``'s row index (:class:`aml.gold.row_index.RowIndex`) the rows are located in
    the driver and read by id (a code shared by two tokens reads both accounts' rows: more,
    never fewer, and the profile SQL keeps the scope's accounts); without it, by two
    semi-joins over ``tx_df``."""
    accounts_df = scope.accounts_df.select("account_token").distinct()
    end = dt.datetime.combine(scope.last_week + dt.timedelta(days=7), dt.time())
    if index is not None:
        codes = accounts_df.select(account_code(F.col("account_token")).alias("code")).toArrow()
        coded = codes.column("code").to_numpy().astype(np.int64, copy=False)
        last = int(end.replace(tzinfo=dt.UTC).timestamp()) - 1
        widened = pd.DataFrame(
            [(side, code, EARLIEST, last) for side in SIDES for code in coded],
            columns=["side", "code", "lo_s", "hi_s"],
        )
        return rows_with_ids(tx_df, index.subject_ids(widened))
    before_df = tx_df.where(F.col("event_ts") < F.lit(end))
    parts = [
        before_df.join(
            accounts_df.withColumnRenamed("account_token", f"{side}_account_token"),
            on=f"{side}_account_token",
            how="left_semi",
        )
        for side in ("sender", "receiver")
    ]
    return parts[0].unionByName(parts[1]).dropDuplicates(["transaction_id"])


def segment_profiles(account_profiles_df: DataFrame) -> DataFrame:
    """One row per (segment, week) of the given account profiles (:data:`SEGMENT_PROFILE_COLUMNS`).
    The percentiles are over the rows given: pass every account profile of a week."""
    keys = "segment_id, week_start, params_hash"
    statement = f"WITH {segment_ctes('{profiles}', keys)}\nSELECT * FROM segments"
    segments_df = account_profiles_df.sparkSession.sql(statement, profiles=account_profiles_df)
    return _keyed(segments_df, "segment_id", SEGMENT_PROFILE_COLUMNS)


def _in_weeks(df: DataFrame, scope: ProfileScope) -> DataFrame:
    return df.where(F.col("week_start").between(F.lit(scope.first_week), F.lit(scope.last_week)))


def _in_scope(df: DataFrame, scope: ProfileScope) -> DataFrame:
    accounts_df = scope.accounts_df.select("account_token").distinct()
    return _in_weeks(df, scope).join(accounts_df, on="account_token", how="left_semi")


def _overwrite(df: DataFrame, path: str) -> None:
    df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)


def _ranged_files(rows: int) -> int:
    """The files :func:`_overwrite_in_ranges` writes for ``rows`` rows."""
    return max(1, -(-rows // ROWS_PER_FILE))


def _overwrite_in_ranges(df: DataFrame, path: str, keys: tuple[str, ...], fresh: bool) -> None:
    """Overwrites a table in files of at most :data:`ROWS_PER_FILE` rows, each a contiguous range
    of ``keys``: a later replacement of a few keys' rows then touches only the files whose
    statistics' range holds them. The rows are computed once (persisted): counting them sizes
    the ranges, whose bounds are sampled from them. ``fresh`` False: the rows are the table's
    own, laid out again (a commit without data change, which change-feed readers skip)."""
    df = df.persist()
    try:
        ranged_df = df.repartitionByRange(_ranged_files(df.count()), *keys)
        if fresh:
            _overwrite(ranged_df, path)
        else:
            writer = ranged_df.write.format("delta").mode("overwrite")
            writer.option("dataChange", "false").save(path)
    finally:
        df.unpersist()


def keep_laid_out(spark: SparkSession, path: str, keys: tuple[str, ...]) -> int | None:
    """Lays a profile table out again in ranges of ``keys`` (:func:`_overwrite_in_ranges`, the
    rows unchanged) once scoped refreshes have left it more than :data:`RELAYOUT_FACTOR` times
    the files that layout makes, plus :data:`SPARE_FILES`: each refresh appends a file of its
    scope's rows, and one appended by a wide scope (a MERGE of thousands of accounts) spans the
    whole key range, so every later narrow refresh reads and rewrites it. Returns the files the
    table had when it was laid out again, None when it was left."""
    snap = delta_io.snapshot(spark, path)
    if snap is None or snap.files <= RELAYOUT_FACTOR * _ranged_files(snap.rows) + SPARE_FILES:
        return None
    _overwrite_in_ranges(spark.read.format("delta").load(path), path, keys, fresh=False)
    return snap.files


def _replace_where(spark: SparkSession, path: str, rows_df: DataFrame, predicate: str) -> None:
    """Makes the table's rows matching ``predicate`` (SQL over the table's columns) exactly
    ``rows_df``'s rows matching it, in one commit (Delta's ``replaceWhere``): rows of the
    predicate not in ``rows_df`` go, the others are replaced. Delta reads only the files whose
    statistics may hold a matching row."""
    if not delta_io.exists(spark, path):
        _overwrite(rows_df.where(predicate), path)
        return
    (
        rows_df.where(predicate)
        .write.format("delta")
        .mode("overwrite")
        # the session's dynamic partition overwrite (spark-defaults.conf) does not apply
        .option("partitionOverwriteMode", "static")
        .option("replaceWhere", predicate)
        .save(path)
    )


def _replace(
    spark: SparkSession, path: str, rows_df: DataFrame, scope_of: Callable[[DataFrame], DataFrame]
) -> None:
    """Makes the table's rows inside a scope exactly ``rows_df``: one keyed MERGE that upserts
    them and deletes the scope's other keys (an account-week no longer active). The rows are
    computed once (persisted): the stale keys and the MERGE, which reads its source twice, all
    use them. For a scope too wide for :func:`_replace_where`'s literal predicate."""
    if not delta_io.exists(spark, path):
        _overwrite(rows_df, path)
        return
    rows_df = rows_df.persist()
    try:
        stale_df = scope_of(spark.read.format("delta").load(path)).join(
            rows_df.select(KEY), on=KEY, how="left_anti"
        )
        delta_io.merge_upsert_delete(spark, path, rows_df, stale_df, KEY, rows_df.columns)
    finally:
        rows_df.unpersist()


def _weeks_predicate(scope: ProfileScope) -> str:
    return f"week_start BETWEEN DATE'{scope.first_week}' AND DATE'{scope.last_week}'"


def _scope_predicate(scope: ProfileScope, most: int) -> str | None:
    """The scope as SQL over ``gold.account_profiles``' columns, its accounts listed as literals;
    None when it has more than ``most`` accounts."""
    accounts_df = scope.accounts_df.select("account_token").distinct()
    accounts = sorted(row[0] for row in accounts_df.limit(most + 1).collect())
    if len(accounts) > most:
        return None
    listed = ", ".join(literal(a) for a in accounts) or "NULL"
    return f"account_token IN ({listed}) AND {_weeks_predicate(scope)}"


# a segments' predicate that no segment needs: nothing of them to replace
NOTHING = "FALSE"


def _segments_of(spark: SparkSession, path: str, predicate: str) -> set[str | None]:
    """The segments of the account profiles matching ``predicate`` (a literal predicate: Delta
    reads only the files that can hold its accounts); empty before the table exists."""
    if not delta_io.exists(spark, path):
        return set()
    rows_df = spark.read.format("delta").load(path).where(predicate)
    return {row[0] for row in rows_df.select("segment_id").distinct().collect()}


def _segments_predicate(scope: ProfileScope, touched: set[str | None]) -> str:
    """The segment-weeks a narrow refresh recomputes: its weeks of the segments its accounts
    were in before it or are in after it (an account that leaves a segment changes that
    segment's percentiles too); no other segment gains or loses a row. Every segment of the
    weeks when one of them is null; :data:`NOTHING` when there is none."""
    if not touched:
        return NOTHING
    if None in touched:
        return _weeks_predicate(scope)
    listed = ", ".join(literal(segment) for segment in sorted(touched))
    return f"segment_id IN ({listed}) AND {_weeks_predicate(scope)}"


def publish_profiles(
    spark: SparkSession,
    config: Config,
    profiles_df: DataFrame,
    segments_df: DataFrame | None = None,
    scope: ProfileScope | None = None,
    replace_max_accounts: int = REPLACE_MAX_ACCOUNTS,
) -> dict[str, int]:
    """Writes ``gold.account_profiles`` and ``gold.segment_profiles``; returns their versions.

    Without a scope both tables are overwritten with the frames given (the account profiles in
    files of contiguous account ranges, :func:`_overwrite_in_ranges`). With one, only its
    account-weeks of ``gold.account_profiles`` and its weeks of ``gold.segment_profiles`` are
    replaced: the segments' weeks and a scope of at most ``replace_max_accounts`` accounts by a
    ``replaceWhere`` on a literal predicate (:func:`_replace_where`), a wider scope's account
    profiles by a keyed MERGE (``profile_key``, :func:`_replace`); rows of ``profiles_df``
    outside the scope are ignored. Either way a rerun gives the same tables. ``segments_df``
    None: the segments are computed from the account profiles as published by this call (all
    of the scope's weeks' accounts, not only the scope's), which is what a scoped refresh needs;
    a narrow scope (the literal predicate) recomputes only the segments its accounts were or
    are in (:func:`_segments_predicate`), a wide one every segment of its weeks.
    """
    accounts_path = config.table_path("gold", "account_profiles")
    segments_path = config.table_path("gold", "segment_profiles")
    segments_predicate = None if scope is None else _weeks_predicate(scope)
    if scope is None:
        _overwrite_in_ranges(profiles_df, accounts_path, ACCOUNT_RANGES, fresh=True)
    elif (predicate := _scope_predicate(scope, replace_max_accounts)) is not None:
        # the segments the scope's accounts were in, read before their rows are replaced
        before = _segments_of(spark, accounts_path, predicate) if segments_df is None else set()
        _replace_where(spark, accounts_path, profiles_df, predicate)
        if segments_df is None:
            touched = before | _segments_of(spark, accounts_path, predicate)
            segments_predicate = _segments_predicate(scope, touched)
    else:
        _replace(spark, accounts_path, _in_scope(profiles_df, scope), lambda d: _in_scope(d, scope))
    if segments_predicate == NOTHING:
        log.info("profiles: the scope's accounts are in no segment of its weeks")
    elif segments_df is None:
        published_df = spark.read.format("delta").load(accounts_path)
        segments_df = segment_profiles(
            published_df if scope is None else published_df.where(segments_predicate)
        )
    if scope is None:
        _overwrite(segments_df, segments_path)
    else:
        if segments_predicate != NOTHING:
            _replace_where(spark, segments_path, segments_df, segments_predicate)
        for path, keys in ((accounts_path, ACCOUNT_RANGES), (segments_path, SEGMENT_RANGES)):
            if (files := keep_laid_out(spark, path, keys)) is not None:
                log.info("profiles: %s laid out again by %s (%d files)", path, keys, files)
    return {
        "gold.account_profiles": delta_io.current_version(spark, accounts_path),
        "gold.segment_profiles": delta_io.current_version(spark, segments_path),
    }
