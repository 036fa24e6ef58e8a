"""The driver's index of silver's accounts and times, which finds a scope's row sets.

Two questions: does the index hold what Spark holds (codes, times, which rows), and do its row
sets match their definitions, at the edges (inclusive intervals, the walk's window, its steps
and directions, rows with one side empty) and on random data against a plain-Python reading of
the same definitions (``evaluation._subject_rows`` and ``_reached_rows`` say what the rules
need; whether scoped hits then equal a full rebuild is tests/unit/test_gold_scope_reach.py's
and test_gold_oracle.py's question).
"""

from __future__ import annotations

import random

import numpy as np
import pandas as pd
import pytest
from pyspark.sql import functions as F
from tests.unit.gold_rows import T0, Tx, tx_df

from aml.gold.row_index import (
    NO_ACCOUNT,
    RowIndex,
    account_code,
    rows_by_id,
    scope_entries,
    tokens_by_id,
)

EPOCH_T0 = int(T0.timestamp())


def _index(rows: list[tuple[int, int, int, int]]) -> RowIndex:
    """An index of ``(id, sender code, receiver code, s)`` rows, in time order as built."""
    ids, sender, receiver, s = (
        np.array(column, dtype=np.int64) for column in zip(*rows, strict=True)
    )
    order = np.argsort(s, kind="stable")
    return RowIndex(ids=ids[order], sender=sender[order], receiver=receiver[order], s=s[order])


def _widened(entries: list[tuple[str, int, int, int]]) -> pd.DataFrame:
    return pd.DataFrame(entries, columns=["side", "code", "lo_s", "hi_s"])


def test_account_codes_are_equal_for_equal_tokens_and_zero_for_none(spark):
    df = spark.createDataFrame([("a",), ("a",), ("b",), (None,)], "token STRING")
    codes = [row.code for row in df.select(account_code(F.col("token")).alias("code")).collect()]
    assert codes[0] == codes[1] != NO_ACCOUNT
    assert codes[2] not in (codes[0], NO_ACCOUNT)
    assert codes[3] == NO_ACCOUNT


def test_the_index_holds_every_row_a_set_can_need_in_time_order(spark):
    rows = [
        Tx(1, 300, "10", "a", "b"),
        Tx(2, 100, "10", "b", None),  # a payee's row without a counterparty: its activity
        Tx(3, None, "10", "a", "b"),  # no time: in no interval
        Tx(4, 200, "10", None, None),  # no account: no subject's, no walk's
        Tx(None, 250, "10", "a", "b"),  # no id: cannot be read back
        Tx(5, 200, None, "c", "a"),
    ]
    index = RowIndex.of(tx_df(spark, rows))
    codes = dict(
        spark.createDataFrame([("a",), ("b",), ("c",)], "t STRING")
        .select("t", account_code(F.col("t")).alias("code"))
        .collect()
    )
    assert index.ids.tolist() == [2, 5, 1]
    assert index.s.tolist() == [EPOCH_T0 + 100, EPOCH_T0 + 200, EPOCH_T0 + 300]
    assert index.sender.tolist() == [codes["b"], codes["c"], codes["a"]]
    assert index.receiver.tolist() == [NO_ACCOUNT, codes["a"], codes["b"]]


def test_scope_entries_code_subjects_and_keep_null_subjects(spark):
    scope_df = spark.createDataFrame(
        [("R10", "a", 1, 2), ("R26", None, 3, 4)],
        "rule_id STRING, subject_token STRING, lo_s BIGINT, hi_s BIGINT",
    )
    entries = scope_entries(scope_df)
    assert entries["rule_id"].tolist() == ["R10", "R26"]
    assert entries["code"].iloc[1] == NO_ACCOUNT != entries["code"].iloc[0]
    assert entries[["lo_s", "hi_s"]].to_numpy().tolist() == [[1, 2], [3, 4]]
    assert scope_entries(scope_df.limit(0)).empty


def test_subject_rows_are_the_sides_rows_inside_inclusive_intervals():
    index = _index(
        [
            (1, 7, 8, 99),  # before the sender interval
            (2, 7, 8, 100),  # its first second
            (3, 7, 0, 200),  # its last second, no receiver
            (4, 7, 8, 201),  # after it
            (5, 8, 7, 150),  # 7 as receiver: that side is not widened for 7
            (6, 9, 8, 150),  # 8 as receiver inside its interval
            (7, 9, 8, 151),  # one second past it
        ]
    )
    widened = _widened([("sender", 7, 100, 200), ("receiver", 8, 140, 150)])
    assert index.subject_ids(widened).tolist() == [2, 3, 6]
    assert index.subject_ids(_widened([])).size == 0


def test_a_walk_follows_its_steps_and_directions_inside_its_window():
    # 1 -> 2 -> 3 -> 4 forward in time, 5 -> 1 into the start, 2 -> 6 outside the window
    index = _index([(1, 1, 2, 10), (2, 2, 3, 20), (3, 3, 4, 30), (4, 5, 1, 5), (5, 2, 6, 99)])
    window = (0, 50)
    start = np.array([1])
    # the start's own rows only: its edges, either side
    assert index.reached_ids([(start, 0, False)], window).tolist() == [1, 4]
    # one step forward reaches 2: every row of 2 in the window too
    assert index.reached_ids([(start, 1, False)], window).tolist() == [1, 2, 4]
    assert index.reached_ids([(start, 2, False)], window).tolist() == [1, 2, 3, 4]
    # one step both ways from 2 reaches 1 and 3, whose rows include 5 -> 1 and 3 -> 4
    assert index.reached_ids([(np.array([2]), 1, True)], window).tolist() == [1, 2, 3, 4]
    # a wider window holds the edge 2 -> 6; a start with no account reaches nothing
    assert index.reached_ids([(start, 1, False)], (0, 99)).tolist() == [1, 2, 4, 5]
    assert index.reached_ids([(np.array([NO_ACCOUNT]), 3, True)], window).size == 0


def test_rows_by_id_reads_exactly_those_rows(spark):
    df = tx_df(spark, [Tx(i, i, "1", "a", "b") for i in range(1, 6)])
    got = rows_by_id(df, np.array([2, 4, 9], dtype=np.int64))
    assert sorted(row.transaction_id for row in got.collect()) == [2, 4]
    assert rows_by_id(df, np.empty(0, dtype=np.int64)).count() == 0


def _random_rows(rng: random.Random, n: int) -> list[tuple[int, int, int, int]]:
    accounts = range(1, 16)
    return [
        (
            i,
            rng.choice([NO_ACCOUNT, *accounts]),
            rng.choice([NO_ACCOUNT, *accounts]),
            rng.randrange(0, 200),
        )
        for i in range(n)
    ]


@pytest.mark.parametrize("seed", range(5))
def test_random_subject_sets_match_their_definition(seed):
    rng = random.Random(seed)
    rows = _random_rows(rng, 300)
    entries = [
        (side, code, lo, lo + rng.randrange(0, 80))
        for side in ("sender", "receiver")
        for code in rng.sample(range(1, 16), 4)
        for lo in [rng.randrange(0, 200)]
    ]
    expected = sorted(
        i
        for i, sender, receiver, s in rows
        if any(
            code == (sender if side == "sender" else receiver) and lo <= s <= hi
            for side, code, lo, hi in entries
        )
    )
    assert _index(rows).subject_ids(_widened(entries)).tolist() == expected


@pytest.mark.parametrize("seed", range(5))
def test_random_walks_match_their_definition(seed):
    rng = random.Random(seed)
    rows = _random_rows(rng, 120)
    lo, hi = sorted(rng.sample(range(0, 200), 2))
    edges = [row for row in rows if lo <= row[3] <= hi]
    walks = [
        (np.array(rng.sample(range(1, 16), 2)), rng.randrange(0, 3), rng.random() < 0.5)
        for _ in range(2)
    ]
    reached: set[int] = set()
    for start, steps, both_ways in walks:
        frontier = set(start.tolist())
        reached |= frontier
        for _ in range(steps):
            forward = {r for _, s, r, _ in edges if s in frontier}
            backward = {s for _, s, r, _ in edges if r in frontier} if both_ways else set()
            frontier = (forward | backward) - {NO_ACCOUNT}
            reached |= frontier
    expected = sorted(i for i, s, r, _ in edges if s in reached or r in reached)
    assert _index(rows).reached_ids(walks, (lo, hi)).tolist() == expected


def test_rows_of_finds_an_accounts_rows_inside_inclusive_intervals():
    rows = [
        (1, 7, 8, 100),
        (2, 7, 9, 110),  # the interval's upper edge
        (3, 8, 7, 105),  # 7 as receiver: not a sender's row
        (4, 7, NO_ACCOUNT, 99),  # just before the interval
        (5, 7, 8, 111),  # just after it
        (6, NO_ACCOUNT, 7, 100),
    ]
    index = _index(rows)
    query, position = index.rows_of("sender", np.array([7, 8]), np.array([100, 0]), [110, 50])
    assert sorted(zip(query.tolist(), index.ids[position].tolist(), strict=True)) == [
        (0, 1),
        (0, 2),
    ]
    query, position = index.rows_of(
        "receiver", [7, 7, NO_ACCOUNT, 42], [100, 200, 0, 0], [105, 300, 999, 999]
    )
    # no account (0) and an unknown account find nothing; an empty interval finds nothing
    assert sorted(zip(query.tolist(), index.ids[position].tolist(), strict=True)) == [
        (0, 3),
        (0, 6),
    ]
    assert index.rows_of("sender", [7], [111], [110])[0].size == 0


@pytest.mark.parametrize("seed", range(5))
def test_random_rows_of_match_their_definition(seed):
    rng = random.Random(seed)
    rows = _random_rows(rng, 300)
    index = _index(rows)
    queries = [(rng.randrange(0, 17), lo, lo + rng.randrange(-5, 60)) for lo in
               (rng.randrange(-20, 220) for _ in range(40))]  # fmt: skip
    for side in ("sender", "receiver"):
        codes, lo, hi = (list(column) for column in zip(*queries, strict=True))
        query, position = index.rows_of(side, codes, lo, hi)
        found = sorted(zip(query.tolist(), index.ids[position].tolist(), strict=True))
        expected = sorted(
            (q, i)
            for q, (code, low, high) in enumerate(queries)
            for i, sender, receiver, s in rows
            if code != NO_ACCOUNT
            and code == (sender if side == "sender" else receiver)
            and low <= s <= high
        )
        assert found == expected


def test_tokens_by_id_are_the_rows_accounts_with_their_codes(spark):
    rows = [Tx(1, 100, "10", "a", "b"), Tx(2, 100, "10", "c", None), Tx(3, 100, "10", "d", "e")]
    df = tx_df(spark, rows)
    tokens = tokens_by_id(df, np.array([1, 2]))
    assert sorted(tokens["token"]) == ["a", "b", "c"]
    index = RowIndex.of(df)
    codes = dict(zip(index.ids.tolist(), index.sender.tolist(), strict=True))
    assert tokens.set_index("token").loc["a", "code"] == codes[1]
