"""The rule kinds on behavioural baselines (``docs/RULES_V2.md``, "Rules on the baselines"):
``peer_amount_outlier`` and ``dormant_wakeup``, on hand-built rows, and the peer rule checked
against ``gold.account_profiles`` / ``gold.segment_profiles`` on seeded random rows.

Same layout as ``test_gold_rules_v2.py``: each scenario is a handful of rows between its own
accounts, every scenario is evaluated in one Spark run (accounts namespaced, ids shifted), and
each test compares its scenario's hits as (id, subject, role, base severity). A peer group is a
week's accounts, so each scenario also gets its own weeks: its times move by 40 weeks per scenario.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import random
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal

import pytest
from tests.unit.gold_rows import ALL_NULL, DAY, HOUR, LINEAGE, T0, Tx, nulled, tx_df
from tests.unit.test_gold_profiles import ACCOUNTS, MIDNIGHT0, PEERS, at, random_rows

from aml.config import ConfigError
from aml.gold import evaluation, profiles, rulepack, rules

SEVERITY = "MEDIUM"
RULES = [
    ("P1", "peer_amount_outlier", {"min_amount": 1000, "ratio": 3, "min_peers": 5}),
    ("P2", "peer_amount_outlier", {"min_amount": 1000, "ratio": 1, "min_peers": 5}),
    ("D1", "dormant_wakeup", {"dormant_days": 30, "min_history_days": 60,
                              "window_seconds": 259200, "min_amount": 10000}),
]  # fmt: skip
PACK = rulepack.parse(
    {
        "version": "2",
        "rule": [
            {"id": i, "name": i, "kind": kind, "version": 1, "severity": SEVERITY, "params": p}
            for i, kind, p in RULES
        ],
    }
)
ID_STRIDE = 1_000
SHIFT = 40 * 7 * DAY  # each scenario's own weeks
W72 = 72 * HOUR

Hit = tuple[int, str, str, str]
Flags = Mapping[str, tuple[bool, bool]]


@dataclasses.dataclass(frozen=True)
class Scenario:
    rule_id: str
    name: str
    rows: tuple[Tx, ...]
    expected: tuple[Hit, ...]
    flags: Flags = dataclasses.field(default_factory=dict)

    def __str__(self) -> str:
        return self.name


def with_flags(rows: Iterable[Tx], flags: Flags) -> list[Tx]:
    def of(account: str | None) -> tuple[bool, bool]:
        return flags.get(account, (False, False)) if account is not None else (False, False)

    return [
        dataclasses.replace(
            row,
            sender_is_pep=of(row.sender)[0],
            sender_risk="HIGH" if of(row.sender)[1] else "LOW",
            receiver_is_pep=of(row.receiver)[0],
            receiver_risk="HIGH" if of(row.receiver)[1] else "LOW",
        )
        for row in rows
    ]


def scenario(
    rule_id: str, name: str, rows: list[Tx], hits: Iterable[int] = (), flags: Flags | None = None
) -> Scenario:
    """``hits``: the ids hit, each a hit of its sender (role ``sender``)."""
    flags = dict(flags or {})
    rows = with_flags(rows, flags) if flags else rows
    by_id = {row.transaction_id: row for row in rows}
    expected = sorted((i, by_id[i].sender, "sender", SEVERITY) for i in hits)
    return Scenario(rule_id, name, tuple(rows), tuple(expected), flags)


# peer_amount_outlier -----------------------------------------------------------------------------
T = 100 * DAY  # Friday 2024-04-19 12:00; its week starts Monday 2024-04-15 00:00
WEEK = T - 4 * DAY - 12 * HOUR
WINDOW_START = WEEK - 90 * DAY
NEXT_WEEK = WEEK + 7 * DAY
PEER_NAMES = ("S", "P1", "P2", "P3", "P4", "P5")


def group(
    maxima: Sequence[str], *, history: int | None = None, payment_type: str = "Cheque"
) -> list[Tx]:
    """S and its peers P1.. (one per amount after S's): each paid its amount to its own payee 30
    days before T (S at ``history`` if given), so all are in segment A1|C1|K0|X0|R0 in T's week;
    the peers are active there by a receipt from Z, S by the rows the scenario adds."""
    rows = []
    for i, (account, amount) in enumerate(zip(PEER_NAMES, maxima, strict=False)):
        when = history if account == "S" and history is not None else T - 30 * DAY
        kind = "Cheque" if account == "S" else payment_type
        rows.append(Tx(100 + i, when, amount, account, f"Q{i}", kind))
        if account != "S":
            rows.append(Tx(200 + i, T - DAY, "10.00", "Z", account))
    return rows


def pay(amount: str | None, sec: int = T, tx_id: int = 1, receiver: str | None = "R") -> Tx:
    return Tx(tx_id, sec, amount, "S", receiver)


THOUSANDS = ["1000.00"] * 5
SPREAD = ["100.00", "200.00", "300.00", "400.00", "10000.00"]
P = [
    scenario("P1", "three_times_the_segment_p99_hits", [*group(THOUSANDS), pay("3000.00")], {1}),
    scenario("P1", "one_penny_below_is_no_hit", [*group(THOUSANDS), pay("2999.99")]),
    scenario("P1", "one_penny_above_hits", [*group(THOUSANDS), pay("3000.01")], {1}),
    scenario("P1", "min_amount_is_the_floor_at_1000_00",
             [*group(["100.00"] * 5), pay("1000.00")], {1}),
    scenario("P1", "min_amount_is_the_floor_999_99_is_no_hit",
             [*group(["100.00"] * 5), pay("999.99")]),
    scenario("P1", "four_accounts_are_too_few_peers", [*group(THOUSANDS[:4]), pay("50000")]),
    scenario("P1", "six_accounts_are_enough", [*group(["1000.00"] * 6), pay("3000.00")], {1}),
    # S's own largest payment is among the maxima: [1000 x4, 2000] -> p99 = 1960, x3 = 5880
    scenario("P1", "the_subjects_own_maximum_is_among_the_peers_at_5880",
             [*group(["2000.00", *THOUSANDS[:4]]), pay("5880.00")], {1}),
    scenario("P1", "the_subjects_own_maximum_is_among_the_peers_below_5880",
             [*group(["2000.00", *THOUSANDS[:4]]), pay("5879.99")]),
    # [100, 200, 300, 400, 10000]: r = 0.99 * 4 = 3.96, p99 = 400 + 0.96 * 9600 = 9616
    scenario("P2", "p99_interpolates_between_the_two_largest_maxima",
             [*group(SPREAD), pay("9616.00")], {1}),
    scenario("P2", "p99_interpolated_one_penny_below", [*group(SPREAD), pay("9615.99")]),
    # window edges: the history is [week - 90 d, week); this week's rows are not history
    scenario("P1", "a_history_row_exactly_90_days_before_the_week_counts",
             [*group(THOUSANDS, history=WINDOW_START), pay("3000.00")], {1}),
    scenario("P1", "a_history_row_a_second_earlier_leaves_the_subject_new",
             [*group(THOUSANDS, history=WINDOW_START - 1), pay("50000")]),
    scenario("P1", "the_weeks_earlier_payments_are_not_history",
             [*group(THOUSANDS), pay("5000.00", WEEK, 2), pay("3000.00")], {1, 2}),
    scenario("P1", "the_last_second_of_the_week_is_in_the_week",
             [*group(THOUSANDS), pay("3000.00", NEXT_WEEK - 1)], {1}),
    scenario("P1", "the_next_week_has_other_peers", [*group(THOUSANDS), pay("50000", NEXT_WEEK)]),
    # segments
    scenario("P1", "a_high_risk_subject_is_not_in_its_low_risk_peers_segment",
             [*group(THOUSANDS), pay("50000")], flags={"S": (False, True)}),
    scenario("P1", "a_pep_subject_hits_with_its_flag", [*group(THOUSANDS), pay("3000.00")], {1},
             flags={"S": (True, False), "R": (False, True)}),
    scenario("P1", "peers_with_cash_history_are_another_segment",
             [*group(THOUSANDS, payment_type="Cash Withdrawal"), pay("50000")]),
    scenario("P1", "a_payment_to_an_unknown_receiver_hits",
             [*group(THOUSANDS), pay("3000.00", receiver=None)], {1}),
    scenario("P1", "a_large_receipt_is_no_hit",
             [*group(THOUSANDS), Tx(1, T, "50000", "Y", "S")]),
    # nulls: no payment of S, and a peer active only by a null row is no peer
    *[scenario("P1", f"a_payment_with_null_{c}_is_no_hit",
               [*group(THOUSANDS), nulled(pay("50000"), c)])
      for c in ("event_ts", "amount", "transaction_id", "sender")],
    *[scenario("P1", f"a_peer_active_only_by_a_null_{c}_row_is_no_peer",
               [*[r for r in group(THOUSANDS) if r.transaction_id != 204],
                nulled(Tx(204, T - DAY, "10.00", "Z", "P4"), c), pay("50000")])
      for c in ("event_ts", "amount", "transaction_id", "receiver")],
]  # fmt: skip


# dormant_wakeup ----------------------------------------------------------------------------------
LAST = 40 * DAY  # the last activity before the silence
WAKE = LAST + 30 * DAY + 1  # just over 30 days later; the first row was 70 days before


def quiet(*rows: Tx, last: int = LAST) -> list[Tx]:
    """A's first row at 0 and its last before the silence at ``last``, then ``rows``."""
    return [Tx(101, 0, "100.00", "A", "B"), Tx(102, last, "100.00", "A", "B"), *rows]


def send(tx_id: int, sec: int, amount: str | None, receiver: str | None = "C") -> Tx:
    return Tx(tx_id, sec, amount, "A", receiver)


WOKEN = send(1, WAKE, "10000.00")
BREAKS = Tx(3, WAKE - DAY, "100.00", "A", "B")
D = [
    scenario("D1", "10000_00_after_a_dormancy_hits", quiet(WOKEN), {1}),
    scenario("D1", "9999_99_is_no_hit", quiet(send(1, WAKE, "9999.99"))),
    scenario("D1", "payments_within_72h_of_the_wakeup_add_up",
             quiet(send(1, WAKE, "6000.00"), send(2, WAKE + W72, "4000.00")), {1, 2}),
    scenario("D1", "a_payment_72h_plus_1s_later_does_not_count",
             quiet(send(1, WAKE, "6000.00"), send(2, WAKE + W72 + 1, "4000.00"))),
    scenario("D1", "a_payment_after_the_window_is_not_flagged",
             quiet(WOKEN, send(2, WAKE + W72 + 1, "500.00")), {1}),
    scenario("D1", "payments_at_the_wakeup_second_all_count",
             quiet(send(1, WAKE, "5000.00"), send(2, WAKE, "5000.00")), {1, 2}),
    scenario("D1", "a_receipt_wakes_the_account_and_is_no_hit",
             quiet(Tx(1, WAKE, "500.00", "B", "A"), send(2, WAKE + W72, "10000.00")), {2}),
    scenario("D1", "a_payment_to_an_unknown_receiver_counts",
             quiet(send(1, WAKE, "10000.00", receiver=None)), {1}),
    # the silence: no row in [w - 30 d, w)
    scenario("D1", "exactly_30_days_of_silence_is_not_dormant",
             quiet(send(1, LAST + 30 * DAY, "10000.00"))),
    scenario("D1", "a_receipt_during_the_silence_breaks_it",
             quiet(Tx(3, WAKE - DAY, "100.00", "B", "A"), WOKEN)),
    scenario("D1", "a_payment_during_the_silence_breaks_it", quiet(BREAKS, WOKEN)),
    # the history: the first row at or before w - 60 d
    scenario("D1", "a_first_row_exactly_60_days_before_is_history",
             [Tx(101, 0, "100.00", "A", "B"), send(1, 60 * DAY, "10000.00")], {1}),
    scenario("D1", "a_first_row_59_days_23_59_59_before_is_not_enough",
             [Tx(101, 0, "100.00", "A", "B"), send(1, 60 * DAY - 1, "10000.00")]),
    scenario("D1", "a_first_payment_ever_is_no_wakeup", [send(1, 0, "20000.00")]),
    scenario("D1", "only_the_window_of_a_wakeup_that_sends_enough_is_flagged",
             quiet(send(1, WAKE, "100.00"), send(2, WAKE + 31 * DAY, "10000.00")), {2}),
    scenario("D1", "subject_attributes_are_the_senders", quiet(WOKEN), {1},
             flags={"A": (True, True), "C": (False, True)}),
    # nulls: a null row is no activity (it breaks no silence) and no payment
    *[scenario("D1", f"a_null_{c}_row_in_the_silence_breaks_nothing",
               quiet(nulled(BREAKS, c), WOKEN), {1})
      for c in ("event_ts", "amount", "transaction_id", "sender")],
    *[scenario("D1", f"a_wakeup_payment_with_null_{c}_is_no_hit", quiet(nulled(WOKEN, c)))
      for c in ("event_ts", "amount", "transaction_id", "sender")],
]  # fmt: skip

BATCH = P + D


def shifted(n: int, row: Tx) -> Tx:
    row = row.renamed(f"s{n}_", n * ID_STRIDE)
    return row if row.sec is None else dataclasses.replace(row, sec=row.sec + n * SHIFT)


@pytest.fixture(scope="module")
def scenario_hits(spark) -> dict[str, list[tuple]]:
    rows = [shifted(n, row) for n, sc in enumerate(BATCH, 1) for row in sc.rows]
    hits = evaluation.evaluate(spark, tx_df(spark, [ALL_NULL, *rows]), PACK, LINEAGE).collect()
    result: dict[str, list[tuple]] = {sc.name: [] for sc in BATCH}
    for hit in hits:
        n, local = divmod(hit.transaction_id, ID_STRIDE)
        sc = BATCH[n - 1]
        if hit.rule_id == sc.rule_id:
            result[sc.name].append((local, hit.subject_token.removeprefix(f"s{n}_"),
                                    hit.subject_role, hit.base_severity, hit.subject_is_pep,
                                    hit.subject_is_high_risk))  # fmt: skip
    return result


def check(sc: Scenario, scenario_hits) -> None:
    hits = scenario_hits[sc.name]
    assert sorted(hit[:4] for hit in hits) == list(sc.expected)
    for _, subject, _, _, is_pep, is_high_risk in hits:
        assert (is_pep, is_high_risk) == sc.flags.get(subject, (False, False)), subject


def test_scenario_names_are_unique():
    assert len({sc.name for sc in BATCH}) == len(BATCH)


@pytest.mark.parametrize("sc", P, ids=str)
def test_peer_amount_outlier_compares_a_payment_with_its_segments_p99(sc, scenario_hits):
    check(sc, scenario_hits)


@pytest.mark.parametrize("sc", D, ids=str)
def test_dormant_wakeup_flags_what_a_silent_account_sends_when_it_wakes(sc, scenario_hits):
    check(sc, scenario_hits)


def test_the_kinds_need_their_parameters():
    broken = rulepack.with_params(PACK.rule("D1"), dormant_days=1.5)
    with pytest.raises(ConfigError):
        rules.sql(broken)


# The worked examples of RULES_V2.md ("Rules on the baselines") --------------------------------
def test_worked_examples_of_the_rules_on_the_baselines(spark):
    rows = [
        *PEERS,
        Tx(31, at("2024-04-10 09:00:00"), "28848.00", "M3", "N9"),
        Tx(32, at("2024-04-11 09:00:00"), "28847.99", "M3", "N9"),
        Tx(41, at("2024-01-02 10:00:00"), "100.00", "A", "B"),
        Tx(42, at("2024-02-01 10:00:00"), "100.00", "A", "B"),
        Tx(43, at("2024-03-05 09:00:00"), "6000.00", "A", "C"),
        Tx(44, at("2024-03-07 12:00:00"), "4000.00", "A", "C"),
        Tx(45, at("2024-03-08 10:00:00"), "500.00", "A", "C"),
    ]
    data_df = tx_df(spark, rows)
    hits = {
        rule_id: sorted((h.transaction_id, h.subject_token) for h in
                        evaluation.raw_hits(spark, data_df, PACK.rule(rule_id)).collect())
        for rule_id in ("P1", "D1")
    }  # fmt: skip
    assert hits == {"P1": [(31, "M3")], "D1": [(43, "A"), (44, "A")]}


# The peer rule agrees with the published baselines ----------------------------------------------
COARSE = {"history_days": 14, "activity_edges": [1], "counterparty_edges": [1]}


def test_peer_amount_outlier_agrees_with_the_profile_tables(spark):
    rows = random_rows(seed=5, n=240)
    data_df = tx_df(spark, rows)
    params = profiles.ProfileParams.from_mapping(COARSE)
    profiles_df = profiles.account_profiles(data_df, params).cache()
    accounts = {(r.account_token, r.week_start): r for r in profiles_df.collect()}
    segments = {(r.segment_id, r.week_start): r
                for r in profiles.segment_profiles(profiles_df).collect()}  # fmt: skip
    rule = rulepack.with_params(PACK.rule("P1"), ratio=1, min_amount=0, min_peers=2, **COARSE)
    got = {(h.transaction_id, h.subject_token)
           for h in evaluation.raw_hits(spark, data_df, rule).collect()}  # fmt: skip
    expected, sent = set(), 0
    for r in rows:
        if None in (r.transaction_id, r.sec, r.amount, r.sender):
            continue
        sent += 1
        event_ts = T0 + dt.timedelta(seconds=r.sec)
        week = event_ts.date() - dt.timedelta(days=event_ts.weekday())
        segment = segments[(accounts[(r.sender, week)].segment_id, week)]
        p99 = segment.sent_amount_max_p99
        if segment.account_count >= 2 and p99 is not None and Decimal(r.amount) >= max(0, p99):
            expected.add((r.transaction_id, r.sender))
    assert got == expected
    assert 0 < len(expected) < sent


# Incremental: a scoped evaluation patches a full rebuild exactly ---------------------------------
SCOPED_PACK = rulepack.parse(
    {
        "version": "2",
        "rule": [
            {"id": "P", "name": "P", "kind": "peer_amount_outlier", "version": 1,
             "severity": SEVERITY, "params": {"min_amount": 0, "ratio": 1, "min_peers": 2,
                                              **COARSE}},
            {"id": "D", "name": "D", "kind": "dormant_wakeup", "version": 1,
             "severity": SEVERITY, "params": {"dormant_days": 10, "min_history_days": 14,
                                              "window_seconds": 3 * DAY, "min_amount": 1000}},
        ],
    }
)  # fmt: skip
SPARSE = [f"z{i}" for i in range(6)]


WOKEN = "y0"


def sparse_rows(rng: random.Random, first_id: int) -> list[Tx]:
    """A few rows per account of :data:`SPARSE`, days or weeks apart: silences and wake-ups.
    And :data:`WOKEN`: a first row on day 0, one on day 10 at noon, then a wake-up on day 24 (14
    days of silence) that sends 1,500.00: a hit of D while its first row is on day 0 (at least
    14 days before), none once that row is gone (day 10 at noon is later than 14 days before)."""
    rows = [
        Tx(first_id, MIDNIGHT0, "100.00", "a0", WOKEN),
        Tx(first_id + 1, MIDNIGHT0 + 10 * DAY + 12 * HOUR, "100.00", WOKEN, "a1"),
        Tx(first_id + 2, MIDNIGHT0 + 24 * DAY, "1500.00", WOKEN, "a2"),
    ]
    for account in SPARSE:
        day = rng.randint(-3, 20)
        while day < 24 * 7:
            other = rng.choice([*ACCOUNTS, *SPARSE])
            sender, receiver = (account, other) if rng.random() < 0.7 else (other, account)
            sec = MIDNIGHT0 + day * DAY + rng.randrange(DAY)
            amount = f"{rng.randint(100, 900000) / 100:.2f}"
            rows.append(Tx(first_id + len(rows), sec, amount, sender, receiver))
            day += rng.choice([1, 2, 9, 10, 11, 25])
    return rows


def changed_rows(rows: list[Tx], rng: random.Random, mode: str) -> tuple[list[Tx], list[Tx]]:
    """(new rows, change images). ``spread``: a sparse account's first row deleted (its first
    row moves), rows moved by the silence and the window, amounts scaled, rows deleted, a sender
    replaced, and two rows inserted ten days after existing ones. ``first_row``: only the first
    row of :data:`WOKEN` deleted, 24 days before its wake-up. ``early_amount``: only the largest
    payment of the first two weeks made a thousand times larger (its sender's largest payment in
    the profiles of the H days after, so its peers' p99 there)."""
    new = {row.transaction_id: row for row in rows if row.transaction_id is not None}
    nulls = [row for row in rows if row.transaction_id is None]  # never valid: kept as they are
    images: list[Tx] = []

    def change(old: Tx | None, row: Tx | None) -> None:
        if old is not None:
            images.append(old)
            new.pop(old.transaction_id)
        if row is not None:
            images.append(row)
            new[row.transaction_id] = row

    valid = [r for r in rows if None not in (r.transaction_id, r.sec, r.amount)]
    if mode == "early_amount":
        early = [r for r in valid if r.sender in ACCOUNTS and r.sec < MIDNIGHT0 + 42 * DAY
                 and r.sec >= MIDNIGHT0 + 28 * DAY]  # fmt: skip
        row = max(early, key=lambda r: Decimal(r.amount))
        change(row, dataclasses.replace(row, amount=f"{Decimal(row.amount) * 1000:.2f}"))
    if mode == "first_row":
        change(
            min((r for r in valid if WOKEN in (r.sender, r.receiver)), key=lambda r: r.sec), None
        )
    if mode != "spread":
        return [*sorted(new.values(), key=lambda r: r.transaction_id), *nulls], images
    first = min((r for r in valid if SPARSE[0] in (r.sender, r.receiver)), key=lambda r: r.sec)
    change(first, None)
    picked = rng.sample([r for r in valid if r is not first], 9)
    for k, row in enumerate(picked[:7]):
        change(row, (
            dataclasses.replace(row, sec=row.sec + 10 * DAY + 1),
            dataclasses.replace(row, sec=row.sec - 3 * DAY),
            dataclasses.replace(row, amount=f"{Decimal(row.amount) * 3:.2f}"),
            dataclasses.replace(row, amount="1000.00"),
            None,
            dataclasses.replace(row, sender=rng.choice(SPARSE)),
            None,
        )[k])  # fmt: skip
    top = max(new)
    for n, row in enumerate(picked[7:], 1):
        change(None, dataclasses.replace(row, transaction_id=top + n, sec=row.sec + 10 * DAY))
    return [*sorted(new.values(), key=lambda r: r.transaction_id), *nulls], images


def hit_keys(hits_df) -> set[tuple[str, int, str, int]]:
    columns = ("rule_id", "transaction_id", "subject_token", "unix_seconds(event_ts) AS s")
    return {tuple(hit) for hit in hits_df.selectExpr(*columns).collect()}


@pytest.mark.parametrize(
    ("seed", "mode", "changes"),
    [(7, "spread", ("P", "D")), (7, "first_row", ("D",)), (15, "early_amount", ("P",))],
)
def test_scoped_evaluation_of_the_baseline_kinds_patches_a_full_rebuild(spark, seed, mode, changes):
    """full(new) == full(old) - old hits inside the scope + scoped(new): the peer rule scoped by
    time span (a null subject: every account of the weeks a change reaches, up to H after it),
    the wake-up by subject with no bound forward (a deleted first row moves every later
    wake-up). One change alone shows that the reach is long enough, as many spread over the
    whole period would hide it."""
    from aml.gold import scope

    rng = random.Random(seed)
    old = random_rows(seed=seed, n=200)
    old += sparse_rows(rng, first_id=len(old) + 1)
    new, images = changed_rows(old, rng, mode)
    new_df = tx_df(spark, new)
    full_old = hit_keys(evaluation.evaluate(spark, tx_df(spark, old), SCOPED_PACK, LINEAGE))
    full_new = hit_keys(evaluation.evaluate(spark, new_df, SCOPED_PACK, LINEAGE))
    scope_df = scope.build_scope(tx_df(spark, images), new_df, SCOPED_PACK).localCheckpoint()
    scoped = hit_keys(evaluation.evaluate(spark, new_df, SCOPED_PACK, LINEAGE, scope_df))
    spans: dict[tuple[str, str | None], list[tuple[int, int]]] = {}
    for row in scope_df.collect():
        spans.setdefault((row.rule_id, row.subject_token), []).append((row.lo_s, row.hi_s))

    def in_scope(hit: tuple[str, int, str, int]) -> bool:
        rule_id, _, subject, s = hit
        return any(lo <= s <= hi for lo, hi in
                   spans.get((rule_id, subject), []) + spans.get((rule_id, None), []))  # fmt: skip

    for rule_id in changes:
        before = {h for h in full_old if h[0] == rule_id}
        after = {h for h in full_new if h[0] == rule_id}
        assert before != after, f"the changes must change some hits of {rule_id}"
    if mode != "spread":  # one change: some hit it moves lies beyond a week after it
        at = int(T0.timestamp()) + images[0].sec
        assert any(h[3] > at + 7 * DAY for h in full_old ^ full_new), "a change near its hits"
    patched = {h[:3] for h in full_old if not in_scope(h)} | {h[:3] for h in scoped}
    expected = {h[:3] for h in full_new}
    assert patched == expected, (
        f"missing from the patch: {sorted(expected - patched)}, "
        f"extra in the patch: {sorted(patched - expected)}"
    )
    # the wake-up rule is scoped by subject (both sides of each changed row), not by time span
    assert ("D", None) not in spans and ("P", None) in spans
