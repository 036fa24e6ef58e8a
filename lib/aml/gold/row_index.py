"""Silver's rows located by account and time in the driver: a scope's row sets without scans.

A scoped evaluation reads a few rows (the subjects' own, and those the graph walks reach) out of
all of silver. Found by Spark, each set costs several jobs over every held row (a semi-join per
side, a join per walk step, each materialised), and those jobs were about two thirds of one
changed row's evaluation at 1M rows (docs/BENCHMARKS.md, "Where one row's evaluation goes").
Here the rows' transaction ids, accounts and times are collected once (four longs a row) and
the sets are found with numpy: a walk step or a subject's interval is a vectorised pass over
the index in milliseconds. Spark then reads the rows found with one semi-join by transaction id.

Accounts are held as codes, not tokens: a 64-bit hash of the token (0 for no account, a
hash of 0 moved to 1), so the driver holds no strings and the scope's subjects are coded by the
same Spark expression. Two tokens with one code make a row set larger, never smaller: a rule
reads a superset of its rows, and the extra rows can only change hits of accounts outside the
scope, which the scope's cut drops (:mod:`aml.gold.evaluation`).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

NO_ACCOUNT = 0
SIDES = ("sender", "receiver")
ENTRY_COLUMNS = ("rule_id", "code", "lo_s", "hi_s")


def account_code(token: Column) -> Column:
    """The code of an account token: ``xxhash64`` of it, 0 for a null token (a hash of 0 is 1)."""
    hashed = F.xxhash64(token)
    return (
        F.when(token.isNull(), F.lit(NO_ACCOUNT))
        .when(hashed == NO_ACCOUNT, F.lit(1))
        .otherwise(hashed)
    )


def scope_entries(scope_df: DataFrame) -> pd.DataFrame:
    """The scope (``rule_id, subject_token, lo_s, hi_s``) in the driver, subjects coded
    (:func:`account_code`; 0 is a null subject: every subject of a span rule)."""
    table = scope_df.select(
        "rule_id",
        account_code(F.col("subject_token")).alias("code"),
        "lo_s",
        "hi_s",
    ).toArrow()
    return table.to_pandas() if table.num_rows else pd.DataFrame(columns=list(ENTRY_COLUMNS))


def _member(values: np.ndarray, sorted_codes: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(whether each value is in ``sorted_codes``, its position there where it is)."""
    if sorted_codes.size == 0:
        return np.zeros(values.shape, dtype=bool), np.zeros(values.shape, dtype=np.int64)
    position = np.minimum(np.searchsorted(sorted_codes, values), sorted_codes.size - 1)
    return sorted_codes[position] == values, position


# the largest key of the by-account order (:class:`_ByAccount`): account rank times time span
_MAX_KEY = 2**62


@dataclass(frozen=True)
class _ByAccount:
    """The index's rows with an account on one side, ordered by (that account, time).

    Attributes:
        order: positions of those rows in the index, in (account, time) order (32-bit below
            2**31 rows).
        codes: the distinct account codes of that side, ascending.
        keys: per ordered row ``rank(code) * span + (s - first)``, ascending: an account's rows
            over an interval are one run of keys, found with two binary searches.
        first, span: the smallest time and the number of seconds up to the largest.
    """

    order: np.ndarray
    codes: np.ndarray
    keys: np.ndarray
    first: int
    span: int

    @classmethod
    def of(cls, codes: np.ndarray, s: np.ndarray) -> _ByAccount:
        held = np.flatnonzero(codes != NO_ACCOUNT)
        if held.size == 0:
            empty = np.empty(0, dtype=np.int64)
            return cls(empty, empty, empty, 0, 1)
        order = held[np.lexsort((s[held], codes[held]))]
        distinct, rank = np.unique(codes[order], return_inverse=True)
        first = int(s[held].min())
        span = int(s[held].max()) - first + 1
        if distinct.size * span >= _MAX_KEY:
            raise ValueError(
                f"silver's event times span {span} s over {distinct.size} accounts: too wide "
                "for the row index's keys"
            )
        keys = rank.astype(np.int64) * span + (s[order] - first)
        # positions fit 32 bits below 2**31 rows: 12 bytes a row with the key, not 16
        if codes.size < 2**31:
            order = order.astype(np.int32)
        return cls(order, distinct, keys, first, span)

    def runs(
        self, codes: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(query, position): every row of account ``codes[q]`` with ``lo[q] <= s <= hi[q]``,
        as the number ``q`` of its query and its position in the index."""
        known, rank = _member(codes, self.codes)
        lo_at = np.maximum(lo - self.first, 0)
        hi_at = np.minimum(hi - self.first, self.span - 1)
        valid = known & (codes != NO_ACCOUNT) & (lo_at <= hi_at)
        base = rank.astype(np.int64) * self.span
        left = np.searchsorted(self.keys, base + lo_at, side="left")
        right = np.where(valid, np.searchsorted(self.keys, base + hi_at, side="right"), left)
        counts = right - left
        query = np.repeat(np.arange(codes.size), counts)
        within = np.arange(int(counts.sum())) - np.repeat(np.cumsum(counts) - counts, counts)
        return query, self.order[np.repeat(left, counts) + within]


@dataclass(frozen=True)
class RowIndex:
    """Every silver row with an event time and an account on either side, in time order.

    Attributes:
        ids: transaction ids.
        sender, receiver: account codes (:func:`account_code`; 0: no account on that side).
        s: event times, epoch seconds (Spark's ``unix_seconds``), ascending.
    """

    ids: np.ndarray
    sender: np.ndarray
    receiver: np.ndarray
    s: np.ndarray

    @classmethod
    def of(cls, tx_df: DataFrame) -> RowIndex:
        """The index of ``tx_df`` (silver's rule columns): one Spark job, four longs a row.

        Rows without an event time, or with no account on either side, are left out: no
        subject's interval and no walk's edge holds them (the Spark row sets read them neither).
        Nor is a row without a transaction id: the rows are read back by id."""
        sender, receiver = (F.col(f"{side}_account_token") for side in SIDES)
        table = (
            tx_df.where(
                F.col("transaction_id").isNotNull()
                & F.col("event_ts").isNotNull()
                & (sender.isNotNull() | receiver.isNotNull())
            )
            .select(
                "transaction_id",
                account_code(sender).alias("sender"),
                account_code(receiver).alias("receiver"),
                F.unix_seconds("event_ts").alias("s"),
            )
            .toArrow()
        )
        columns = {
            name: table.column(name).to_numpy().astype(np.int64, copy=False)
            for name in ("transaction_id", "sender", "receiver", "s")
        }
        order = np.argsort(columns["s"], kind="stable")
        return cls(
            ids=columns["transaction_id"][order],
            sender=columns["sender"][order],
            receiver=columns["receiver"][order],
            s=columns["s"][order],
        )

    def __len__(self) -> int:
        return int(self.ids.size)

    @cached_property
    def _by_sender(self) -> _ByAccount:
        return _ByAccount.of(self.sender, self.s)

    @cached_property
    def _by_receiver(self) -> _ByAccount:
        return _ByAccount.of(self.receiver, self.s)

    def rows_of(
        self, side: str, codes: np.ndarray, lo: np.ndarray, hi: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """(query, position): the rows whose account on ``side`` is ``codes[q]`` with
        ``lo[q] <= s <= hi[q]`` (inclusive; several rows per query, or none), each as the
        number ``q`` of its query and its position in the index. Vectorised: the cost grows
        with the rows found, not with the index (the order by account is built once)."""
        by = self._by_sender if side == "sender" else self._by_receiver
        as_long = [np.asarray(a, dtype=np.int64) for a in (codes, lo, hi)]
        return by.runs(*as_long)

    def window(self, lo: int, hi: int) -> slice:
        """The rows with ``lo <= s <= hi``."""
        return slice(
            int(np.searchsorted(self.s, lo, side="left")),
            int(np.searchsorted(self.s, hi, side="right")),
        )

    def subject_ids(self, widened: pd.DataFrame) -> np.ndarray:
        """Ids of the rows whose account on ``side`` is a subject of that side, inside its
        interval. ``widened``: ``side, code, lo_s, hi_s``, one row per side and subject."""
        found = []
        for side in SIDES:
            own = widened[widened["side"] == side].sort_values("code")
            if own.empty:
                continue
            codes = own["code"].to_numpy(np.int64)
            lo, hi = own["lo_s"].to_numpy(np.int64), own["hi_s"].to_numpy(np.int64)
            rows = self.window(int(lo.min()), int(hi.max()))
            s = self.s[rows]
            is_subject, at = _member(getattr(self, side)[rows], codes)
            inside = is_subject & (lo[at] <= s) & (s <= hi[at])
            found.append(self.ids[rows][inside])
        return np.unique(np.concatenate(found)) if found else np.empty(0, dtype=np.int64)

    def reached_ids(
        self, walks: list[tuple[np.ndarray, int, bool]], window: tuple[int, int]
    ) -> np.ndarray:
        """Ids of the rows in ``window`` (the walks' edges) whose sender or receiver a walk
        reaches. A walk is (start codes, steps, both ways): each step follows the edges from
        the frontier's accounts (as senders; as receivers too both ways) to the accounts on
        their other side."""
        rows = self.window(*window)
        sender, receiver = self.sender[rows], self.receiver[rows]
        reached = []
        for start, steps, both_ways in walks:
            frontier = np.unique(start[start != NO_ACCOUNT])
            reached.append(frontier)
            directions = ((sender, receiver), (receiver, sender))[: 2 if both_ways else 1]
            for _ in range(steps):
                after = [other[_member(own, frontier)[0]] for own, other in directions]
                frontier = np.unique(np.concatenate(after))
                frontier = frontier[frontier != NO_ACCOUNT]
                reached.append(frontier)
        accounts = np.unique(np.concatenate(reached)) if reached else np.empty(0, np.int64)
        touched = _member(sender, accounts)[0] | _member(receiver, accounts)[0]
        return np.unique(self.ids[rows][touched])


def rows_with_ids(tx_df: DataFrame, ids: np.ndarray) -> DataFrame:
    """The rows of ``tx_df`` with these transaction ids (a semi-join with the ids broadcast)."""
    ids_df = tx_df.sparkSession.createDataFrame(
        pd.DataFrame({"transaction_id": ids.astype(np.int64, copy=False)}),
        "transaction_id BIGINT",
    )
    return tx_df.join(F.broadcast(ids_df), on="transaction_id", how="left_semi")


def rows_by_id(tx_df: DataFrame, ids: np.ndarray) -> DataFrame:
    """The rows of ``tx_df`` with these transaction ids, materialised (one semi-join: the ids
    are broadcast, ``tx_df`` is read once)."""
    return rows_with_ids(tx_df, ids).localCheckpoint()


def tokens_by_id(tx_df: DataFrame, ids: np.ndarray) -> pd.DataFrame:
    """``code, token``: the distinct accounts (code and token, either side) of the rows of
    ``tx_df`` with these transaction ids, in the driver (one Spark job)."""
    rows_df = rows_with_ids(tx_df, ids)
    table = (
        rows_df.select(F.explode(F.array(*[F.col(f"{side}_account_token") for side in SIDES])))
        .where(F.col("col").isNotNull())
        .select(account_code(F.col("col")).alias("code"), F.col("col").alias("token"))
        .distinct()
        .toArrow()
    )
    return table.to_pandas() if table.num_rows else pd.DataFrame(columns=["code", "token"])
