"""Rule pack v1 (RULES.md) on hand-built rows: every threshold at, a penny below and a penny above,
every window edge (W apart is inside, W + 1 s is outside), ties at one second, flag-all, nulls.

Each scenario is a handful of rows between its own accounts. All scenarios are evaluated in one
Spark run (accounts namespaced, ids shifted per scenario), so a scenario only ever sees its own
rows and the whole file costs one evaluation; each test then reads its scenario's hits.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from tests.unit.gold_rows import ALL_NULL, DAY, HOUR, LINEAGE, Tx, nulled, pack_of, tx_df

from aml.gold import evaluation

PACK = pack_of()
W72 = 72 * HOUR
W7 = 7 * DAY
W10 = 10 * DAY
ID_STRIDE = 1_000
NULL_ID = 999_000


@dataclasses.dataclass(frozen=True)
class Scenario:
    """Rows between a scenario's own accounts and the hits (id -> base severity) it must give."""

    rule_id: str
    name: str
    rows: tuple[Tx, ...]
    expected: Mapping[int, str]

    def __str__(self) -> str:
        return self.name


def scenario(rule_id: str, name: str, rows: list[Tx], hits: set[int] | Mapping[int, str]):
    if not isinstance(hits, Mapping):
        hits = dict.fromkeys(hits, PACK.rule(rule_id).severity)
    return Scenario(rule_id, name, tuple(rows), hits)


def null_variants(rule_id: str, rows: list[Tx], missing: Tx, columns: tuple[str, ...]):
    """``rows`` lack one row to satisfy the rule; that row with a null never completes it."""
    return [
        scenario(
            rule_id, f"null_{column}_row_completes_nothing", [*rows, nulled(missing, column)], {}
        )
        for column in columns
    ]


# R01 LARGE_AMOUNT --------------------------------------------------------------------------------
R01 = [
    scenario("R01", f"amount_{amount}_gives_{severity or 'no_hit'}", [Tx(1, 0, amount, "A", "B")],
             {1: severity} if severity else {})  # fmt: skip
    for amount, severity in [
        ("9999.99", None),
        ("10000.00", None),
        ("10000.01", "MEDIUM"),
        ("100000.00", "MEDIUM"),
        ("100000.01", "HIGH"),
        ("1000000.00", "HIGH"),
        ("1000000.01", "CRITICAL"),
        ("-20000.00", None),
    ]
] + [
    scenario("R01", "each_large_transfer_is_a_hit_on_its_own",
             [Tx(1, 0, "20000", "A", "B"), Tx(2, 0, "20000", "A", "C"), Tx(3, 9, "50", "A", "B")],
             {1: "MEDIUM", 2: "MEDIUM"}),
    *null_variants("R01", [], Tx(1, 0, "20000", "A", "B"),
                   ("event_ts", "amount", "transaction_id", "sender")),
]  # fmt: skip


# R02 HIGH_RISK_JURISDICTION ----------------------------------------------------------------------
def cross(i: int, sender_location, receiver_location, high_risk: bool, blacklisted: bool) -> Tx:
    return Tx(
        i, 0, "500", "A", "B",
        sender_location=sender_location, receiver_location=receiver_location,
        is_high_risk_jurisdiction=high_risk, is_fatf_blacklisted=blacklisted,
    )  # fmt: skip


R02 = [
    scenario("R02", "uk_to_high_risk_mexico_is_high", [cross(1, "UK", "Mexico", True, False)],
             {1: "HIGH"}),
    scenario("R02", "high_risk_sender_side_is_high", [cross(1, "Turkey", "UK", True, False)],
             {1: "HIGH"}),
    scenario("R02", "fatf_black_list_is_critical", [cross(1, "UK", "Iran", True, True)],
             {1: "CRITICAL"}),
    scenario("R02", "same_high_risk_location_both_sides_is_no_hit",
             [cross(1, "Mexico", "Mexico", True, False)], {}),
    scenario("R02", "cross_border_without_high_risk_is_no_hit",
             [cross(1, "UK", "France", False, False)], {}),
    scenario("R02", "null_receiver_location_is_no_hit", [cross(1, "UK", None, True, False)], {}),
    *null_variants("R02", [], cross(1, "UK", "Mexico", True, False),
                   ("event_ts", "amount", "transaction_id", "sender")),
]  # fmt: skip


# R03 STRUCTURING (receiver, 8000 <= amount < 10000, >= 3 in 72 h) ---------------------------------
def receipts(*items: tuple[int, str], receiver: str = "Z", **kw) -> list[Tx]:
    """Rows 1..n: (seconds, amount) received by ``receiver`` from distinct senders."""
    return [Tx(i, sec, amt, f"S{i}", receiver, **kw) for i, (sec, amt) in enumerate(items, 1)]


R03 = [
    scenario("R03", "three_receipts_at_8000_00_and_9999_99_all_hit",
             receipts((0, "8000.00"), (60, "9999.99"), (120, "9000")), {1, 2, 3}),
    scenario("R03", "receipt_of_7999_99_does_not_count",
             receipts((0, "7999.99"), (60, "9000"), (120, "9000")), {}),
    scenario("R03", "receipt_of_10000_00_does_not_count",
             receipts((0, "10000.00"), (60, "9000"), (120, "9000")), {}),
    scenario("R03", "two_receipts_are_not_enough", receipts((0, "9000"), (60, "9000")), {}),
    scenario("R03", "any_payment_type_counts",
             [dataclasses.replace(row, payment_type=pt) for row, pt in zip(
                 receipts((0, "9000"), (1, "9000"), (2, "9000")),
                 ("Cash Deposit", "Cross-border", "ACH"), strict=True)], {1, 2, 3}),
    scenario("R03", "receipts_exactly_72h_apart_are_inside",
             receipts((0, "9000"), (100, "9000"), (W72, "9000")), {1, 2, 3}),
    scenario("R03", "receipts_72h_plus_1s_apart_are_outside",
             receipts((0, "9000"), (100, "9000"), (W72 + 1, "9000")), {}),
    scenario("R03", "four_receipts_at_the_same_second_all_hit",
             receipts((5, "9000"), (5, "9000"), (5, "9000"), (5, "9000")), {1, 2, 3, 4}),
    scenario("R03", "ties_at_the_window_edge_are_all_inside",
             receipts((0, "9000"), (0, "9000"), (W72, "9000")), {1, 2, 3}),
    scenario("R03", "flags_earlier_receipts_but_not_a_later_uncovered_one",
             receipts((0, "9000"), (1, "9000"), (2, "9000"), (W72 + 2, "9000")), {1, 2, 3}),
    scenario("R03", "a_later_trigger_covers_later_receipts",
             receipts((0, "9000"), (1, "9000"), (2, "9000"), (W72 + 1, "9000"), (W72 + 2, "9000")),
             {1, 2, 3, 4, 5}),
    scenario("R03", "non_qualifying_receipt_in_the_window_is_not_flagged",
             receipts((0, "9000"), (10, "20000"), (20, "9000"), (30, "9000")), {1, 3, 4}),
    scenario("R03", "receipts_of_different_receivers_do_not_combine",
             [Tx(i, i, "9000", "S", f"Z{i}") for i in (1, 2, 3)], {}),
    scenario("R03", "payments_sent_do_not_count",
             [Tx(i, i, "9000", "Z", f"R{i}") for i in (1, 2, 3)], {}),
    *null_variants("R03", receipts((0, "9000"), (10, "9000")), Tx(3, 20, "9000", "S3", "Z"),
                   ("event_ts", "amount", "transaction_id", "receiver")),
]  # fmt: skip


# R04 SMURFING (receiver, Cash Deposit < 10000; 7 d: >= 5, >= 3 senders, sum >= 10000) -------------
def deposits(*items: tuple[int, str, str], payment_type: str = "Cash Deposit") -> list[Tx]:
    """Rows 1..n: (seconds, amount, sender) cash deposits into Z."""
    return [
        Tx(i, sec, amt, sender, "Z", payment_type) for i, (sec, amt, sender) in enumerate(items, 1)
    ]


def smurfs(amounts: tuple[str, ...], secs=(0, 10, 20, 30, 40), senders="S1 S2 S3 S1 S2"):
    n = len(amounts)
    return deposits(*zip(secs[:n], amounts, senders.split()[:n], strict=True))


R04 = [
    scenario("R04", "five_deposits_three_senders_summing_10000_00_all_hit",
             smurfs(("2000",) * 5), {1, 2, 3, 4, 5}),
    scenario("R04", "sum_one_penny_short_of_10000_is_no_hit",
             smurfs(("2000",) * 4 + ("1999.99",)), {}),
    scenario("R04", "four_deposits_are_not_enough",
             smurfs(("3000",) * 4), {}),
    scenario("R04", "two_senders_are_not_enough",
             smurfs(("2500",) * 5, senders="S1 S2 S1 S2 S1"), {}),
    scenario("R04", "deposit_of_10000_00_does_not_count",
             smurfs(("2500",) * 4 + ("10000.00",)), {}),
    scenario("R04", "deposit_of_9999_99_counts",
             smurfs(("2500",) * 4 + ("9999.99",)), {1, 2, 3, 4, 5}),
    scenario("R04", "a_cash_withdrawal_does_not_count",
             smurfs(("2500",) * 4) + [Tx(5, 40, "2500", "S2", "Z", "Cash Withdrawal")],
             {}),
    scenario("R04", "a_cheque_does_not_count",
             smurfs(("2500",) * 4) + [Tx(5, 40, "2500", "S2", "Z", "Cheque")], {}),
    scenario("R04", "deposits_exactly_7d_apart_are_inside",
             smurfs(("2000",) * 5, secs=(0, 10, 20, 30, W7)), {1, 2, 3, 4, 5}),
    scenario("R04", "deposits_7d_plus_1s_apart_are_outside",
             smurfs(("2000",) * 5, secs=(0, 10, 20, 30, W7 + 1)), {}),
    scenario("R04", "five_deposits_at_the_same_second_all_hit",
             smurfs(("2000",) * 5, secs=(7,) * 5), {1, 2, 3, 4, 5}),
    scenario("R04", "flags_earlier_deposits_but_not_a_later_uncovered_one",
             smurfs(("2000",) * 5) + [Tx(6, 40 + W7, "2000", "S3", "Z", "Cash Deposit")],
             {1, 2, 3, 4, 5}),
    *null_variants("R04", smurfs(("2500",) * 4),
                   Tx(5, 40, "2500", "S2", "Z", "Cash Deposit"),
                   ("event_ts", "amount", "transaction_id", "receiver")),
]  # fmt: skip


# R05 FAN_IN / R06 FAN_OUT (>= 10 distinct counterparties in 10 days) ------------------------------
def fan(rule_id: str, counterparties: list[str], secs: list[int] | None = None) -> list[Tx]:
    """Rows 1..n between the subject Z and each counterparty (in for R05, out for R06)."""
    secs = secs or [60 * i for i in range(len(counterparties))]
    rows = []
    for i, (other, sec) in enumerate(zip(counterparties, secs, strict=True), 1):
        sender, receiver = (other, "Z") if rule_id == "R05" else ("Z", other)
        rows.append(Tx(i, sec, "100", sender, receiver))
    return rows


def fan_scenarios(rule_id: str) -> list[Scenario]:
    ten = [f"C{i}" for i in range(1, 11)]
    edge = [0, *range(1, 9), W10]
    counterparty = "sender" if rule_id == "R05" else "receiver"
    subject = "receiver" if rule_id == "R05" else "sender"
    mirror = [Tx(i, i, "100", *(("Z", f"C{i}") if rule_id == "R05" else (f"C{i}", "Z")))
              for i in range(1, 11)]  # fmt: skip
    return [
        scenario(rule_id, "ten_distinct_counterparties_all_hit", fan(rule_id, ten),
                 set(range(1, 11))),
        scenario(rule_id, "nine_distinct_counterparties_is_no_hit", fan(rule_id, ten[:9]), {}),
        scenario(rule_id, "ten_rows_with_nine_distinct_counterparties_is_no_hit",
                 fan(rule_id, ten[:9] + ["C1"]), {}),
        scenario(rule_id, "repeat_counterparty_rows_are_flagged_too",
                 fan(rule_id, ten + ["C1"]), set(range(1, 12))),
        scenario(rule_id, "counterparties_exactly_10d_apart_are_inside",
                 fan(rule_id, ten, edge), set(range(1, 11))),
        scenario(rule_id, "counterparties_10d_plus_1s_apart_are_outside",
                 fan(rule_id, ten, edge[:-1] + [W10 + 1]), {}),
        scenario(rule_id, "ten_at_the_same_second_all_hit", fan(rule_id, ten, [3] * 10),
                 set(range(1, 11))),
        scenario(rule_id, "flags_earlier_rows_but_not_a_later_uncovered_one",
                 fan(rule_id, ten + ["C11"], [*range(10), 9 + W10]), set(range(1, 11))),
        scenario(rule_id, "the_other_direction_does_not_count", mirror, {}),
        *null_variants(rule_id, fan(rule_id, ten[:9]), fan(rule_id, ten)[9],
                       ("event_ts", "amount", "transaction_id", subject, counterparty)),
    ]  # fmt: skip


R05 = fan_scenarios("R05")
R06 = fan_scenarios("R06")

# R07 VELOCITY_SPIKE (sender; 7 d spike vs [t - 30 d, t - 7 d) history) ---------------------------
T = 40 * DAY


def out(i: int, sec: int, amount: str) -> Tx:
    return Tx(i, sec, amount, "A", f"B{i}")


HISTORY = [out(1, T - 20 * DAY, "100"), out(2, T - 19 * DAY, "100"), out(3, T - 18 * DAY, "100")]
R07 = [
    scenario("R07", "spike_of_10000_00_over_a_small_history_hits_the_spike",
             [*HISTORY, out(4, T, "10000.00")], {4}),
    scenario("R07", "spike_of_9999_99_is_no_hit", [*HISTORY, out(4, T, "9999.99")], {}),
    scenario("R07", "two_history_transactions_are_not_enough",
             [*HISTORY[:2], out(4, T, "20000")], {}),
    scenario("R07", "spike_exactly_three_times_the_pace_is_no_hit",
             [out(1, T - 20 * DAY, "7000"), out(2, T - 19 * DAY, "8000"),
              out(3, T - 18 * DAY, "8000"), out(4, T, "21000.00")], {}),
    scenario("R07", "spike_one_penny_above_three_times_the_pace_hits",
             [out(1, T - 20 * DAY, "7000"), out(2, T - 19 * DAY, "8000"),
              out(3, T - 18 * DAY, "8000"), out(4, T, "21000.01")], {4}),
    scenario("R07", "history_row_exactly_7d_before_is_spike_not_history",
             [*HISTORY[:2], out(3, T - W7, "100"), out(4, T, "10000")], {}),
    scenario("R07", "history_row_7d_plus_1s_before_is_history",
             [*HISTORY[:2], out(3, T - W7 - 1, "100"), out(4, T, "10000")], {4}),
    scenario("R07", "history_row_exactly_30d_before_is_history",
             [out(1, T - 30 * DAY, "100"), *HISTORY[1:], out(4, T, "10000")], {4}),
    scenario("R07", "history_row_30d_plus_1s_before_is_out",
             [out(1, T - 30 * DAY - 1, "100"), *HISTORY[1:], out(4, T, "10000")], {}),
    scenario("R07", "spike_rows_exactly_7d_apart_are_all_flagged",
             [*HISTORY, out(4, T - W7, "5000"), out(5, T, "10000")], {4, 5}),
    scenario("R07", "spike_rows_7d_plus_1s_apart_are_not_flagged_together",
             [*HISTORY, out(4, T - W7 - 1, "5000"), out(5, T, "10000")], {5}),
    scenario("R07", "spike_rows_at_the_same_second_all_hit",
             [*HISTORY, out(4, T, "5000"), out(5, T, "5000")], {4, 5}),
    scenario("R07", "flags_earlier_spike_rows_but_not_a_later_uncovered_one",
             [*HISTORY, out(4, T - DAY, "500"), out(5, T, "10000"), out(6, T + W7 + 1, "1")],
             {4, 5}),
    scenario("R07", "incoming_money_is_not_outflow",
             [*HISTORY, Tx(4, T, "10000", "B4", "A")], {}),
    *null_variants("R07", HISTORY, out(4, T, "10000"),
                   ("event_ts", "amount", "transaction_id", "sender")),
]  # fmt: skip


# R08 ROUND_TRIP (A -> ... -> A in 2-4 legs within 72 h of x1, legs 0.85-1.15 of x1) --------------
def chain(accounts: str, secs: list[int], amounts: list[str]) -> list[Tx]:
    """Rows 1..n along ``accounts`` ("A B C A"): leg i from accounts[i-1] to accounts[i]."""
    names = accounts.split()
    return [
        Tx(i, sec, amt, names[i - 1], names[i])
        for i, (sec, amt) in enumerate(zip(secs, amounts, strict=True), 1)
    ]


R08 = [
    scenario("R08", "two_legs_at_5000_00_both_hit",
             chain("A B A", [0, 100], ["5000.00", "5000.00"]), {1, 2}),
    scenario("R08", "first_leg_of_4999_99_is_no_hit",
             chain("A B A", [0, 100], ["4999.99", "5000.00"]), {}),
    scenario("R08", "three_legs_all_hit", chain("A B C A", [0, 1, 2], ["6000"] * 3), {1, 2, 3}),
    scenario("R08", "four_legs_all_hit",
             chain("A B C D A", [0, 1, 2, 3], ["6000"] * 4), {1, 2, 3, 4}),
    scenario("R08", "five_legs_are_no_hit",
             chain("A B C D E A", [0, 1, 2, 3, 4], ["6000"] * 5), {}),
    scenario("R08", "leg_at_0_85_of_x1_hits", chain("A B A", [0, 1], ["10000", "8500.00"]), {1, 2}),
    scenario("R08", "leg_one_penny_below_0_85_is_no_hit",
             chain("A B A", [0, 1], ["10000", "8499.99"]), {}),
    scenario("R08", "leg_at_1_15_of_x1_hits",
             chain("A B A", [0, 1], ["10000", "11500.00"]), {1, 2}),
    scenario("R08", "leg_one_penny_above_1_15_is_no_hit",
             chain("A B A", [0, 1], ["10000", "11500.01"]), {}),
    scenario("R08", "legs_compare_with_x1_not_the_previous_leg",
             chain("A B C A", [0, 1, 2], ["10000", "11500.00", "8500.00"]), {1, 2, 3}),
    scenario("R08", "middle_leg_one_penny_outside_is_no_hit",
             chain("A B C A", [0, 1, 2], ["10000", "11500.01", "10000"]), {}),
    scenario("R08", "last_leg_exactly_72h_after_x1_is_inside",
             chain("A B C A", [0, 1, W72], ["6000"] * 3), {1, 2, 3}),
    scenario("R08", "last_leg_72h_plus_1s_after_x1_is_outside",
             chain("A B C A", [0, 1, W72 + 1], ["6000"] * 3), {}),
    scenario("R08", "legs_at_the_same_second_are_not_a_chain",
             chain("A B A", [5, 5], ["6000"] * 2), {}),
    scenario("R08", "later_legs_at_the_same_second_are_not_a_chain",
             chain("A B C A", [0, 5, 5], ["6000"] * 3), {}),
    scenario("R08", "legs_out_of_order_are_not_a_chain",
             chain("A B C A", [0, 10, 5], ["6000"] * 3), {}),
    scenario("R08", "repeated_account_loop_is_not_part_of_the_chain",
             chain("A B C B A", [0, 10, 20, 30], ["5000", "4999.99", "4999.99", "5000"]), {1, 4}),
    scenario("R08", "a_loop_inside_a_chain_is_a_round_trip_of_its_own",
             chain("A B C B A", [0, 10, 20, 30], ["6000"] * 4), {1, 2, 3, 4}),
    scenario("R08", "self_transfers_are_not_a_round_trip",
             [Tx(1, 0, "6000", "A", "A"), Tx(2, 10, "6000", "A", "A")], {}),
    scenario("R08", "a_self_transfer_is_not_the_first_leg_of_a_longer_chain",
             [Tx(1, 0, "6000", "A", "A"), Tx(2, 10, "6000", "A", "B"),
              Tx(3, 20, "6000", "B", "A")], {2, 3}),
    scenario("R08", "a_self_transfer_is_not_a_middle_leg",
             chain("A B B A", [0, 10, 20], ["6000"] * 3), {1, 3}),
    scenario("R08", "a_chain_not_returning_to_a_is_no_hit",
             chain("A B C", [0, 1], ["6000"] * 2), {}),
    scenario("R08", "only_the_x1_within_72h_of_the_return_is_flagged",
             [Tx(1, 0, "6000", "A", "B"), Tx(2, 100, "6000", "A", "B"),
              Tx(3, W72 + 1, "6000", "B", "A")], {2, 3}),
    *null_variants("R08", chain("A B", [0], ["6000"]), Tx(2, 10, "6000", "B", "A"),
                   ("event_ts", "amount", "transaction_id", "sender", "receiver")),
]  # fmt: skip


# R09 RAPID_PASS_THROUGH (cash deposit >= 1000 into A, non-cash out of A at 0.80-1.05 in 72 h) ----
def pass_through(deposit: str, sent: str, sec: int = 100, *, deposit_type="Cash Deposit",
                 out_type="ACH") -> list[Tx]:  # fmt: skip
    return [Tx(1, 0, deposit, "X", "A", deposit_type), Tx(2, sec, sent, "A", "Y", out_type)]


R09 = [
    scenario("R09", "deposit_of_1000_00_sent_on_both_hit", pass_through("1000.00", "1000.00"),
             {1, 2}),
    scenario("R09", "deposit_of_999_99_is_no_hit", pass_through("999.99", "999.99"), {}),
    scenario("R09", "out_at_0_80_hits", pass_through("10000", "8000.00"), {1, 2}),
    scenario("R09", "out_one_penny_below_0_80_is_no_hit", pass_through("10000", "7999.99"), {}),
    scenario("R09", "out_at_1_05_hits", pass_through("10000", "10500.00"), {1, 2}),
    scenario("R09", "out_one_penny_above_1_05_is_no_hit", pass_through("10000", "10500.01"), {}),
    scenario("R09", "cash_withdrawal_out_is_no_hit",
             pass_through("10000", "10000", out_type="Cash Withdrawal"), {}),
    scenario("R09", "cash_deposit_out_is_no_hit",
             pass_through("10000", "10000", out_type="Cash Deposit"), {}),
    scenario("R09", "non_cash_deposit_is_no_hit",
             pass_through("10000", "10000", deposit_type="Cheque"), {}),
    scenario("R09", "out_exactly_72h_after_deposit_is_inside",
             pass_through("10000", "10000", W72), {1, 2}),
    scenario("R09", "out_72h_plus_1s_after_deposit_is_outside",
             pass_through("10000", "10000", W72 + 1), {}),
    scenario("R09", "out_at_the_same_second_as_the_deposit_is_no_hit",
             pass_through("10000", "10000", 0), {}),
    scenario("R09", "out_before_the_deposit_is_no_hit",
             [Tx(1, 100, "10000", "X", "A", "Cash Deposit"), Tx(2, 0, "10000", "A", "Y")], {}),
    scenario("R09", "every_matching_out_is_flagged_and_no_other",
             pass_through("10000", "9000") + [Tx(3, 200, "10000", "A", "W"),
                                              Tx(4, 300, "5000", "A", "V")], {1, 2, 3}),
    *null_variants("R09", pass_through("10000", "10000")[:1], pass_through("10000", "10000")[1],
                   ("event_ts", "amount", "transaction_id", "sender")),
]  # fmt: skip

SCENARIOS = R01 + R02 + R03 + R04 + R05 + R06 + R07 + R08 + R09

# Subject attributes: R01 (sender A, a PEP; the receiver's HIGH rating is ignored), R03 (receiver
# Z rated HIGH; its senders are PEPs and ignored), R01 with unknown attributes (neither).
ATTRIBUTES = Scenario("R01", "subject_attributes", (
    Tx(1, 0, "20000", "A", "B", sender_is_pep=True, receiver_risk="HIGH"),
    *[Tx(i, i, "9000", f"S{i}", "Z", sender_is_pep=True, receiver_risk="HIGH") for i in (2, 3, 4)],
    Tx(5, 0, "20000", "N", "B", sender_is_pep=None, sender_risk=None),
), {})  # fmt: skip
BATCH = [*SCENARIOS, ATTRIBUTES]


def key(sc: Scenario) -> str:
    return f"{sc.rule_id}/{sc.name}"


def batch_rows() -> list[Tx]:
    """Every scenario's rows, accounts prefixed ``s<n>_`` and ids shifted by n * ID_STRIDE."""
    return [
        row.renamed(f"s{n}_", n * ID_STRIDE) for n, sc in enumerate(BATCH, 1) for row in sc.rows
    ]


@pytest.fixture(scope="module")
def batch_hits_df(spark):
    """The full pack over every scenario (plus the null rows) in one run, cached."""
    tx = tx_df(spark, [ALL_NULL, *null_rows(), *batch_rows()])
    hits_df = evaluation.evaluate(spark, tx, PACK, LINEAGE).cache()
    yield hits_df
    hits_df.unpersist()


def null_rows() -> list[Tx]:
    """Rows R01 and R02 would hit but for a null id, time, amount or sender (their subject)."""
    row = Tx(NULL_ID, 0, "2000000", "NA", "NB", "Cross-border", receiver_location="Iran",
             is_high_risk_jurisdiction=True, is_fatf_blacklisted=True)  # fmt: skip
    return [
        dataclasses.replace(nulled(row, column), transaction_id=NULL_ID + n)
        for n, column in enumerate(("event_ts", "amount", "sender"))
    ] + [nulled(row, "transaction_id")]


@pytest.fixture(scope="module")
def scenario_hits(batch_hits_df) -> dict[str, list[tuple[int, str, str, str]]]:
    """Scenario key -> hits of the scenario's rule as (local id, local subject, role, severity)."""
    result: dict[str, list[tuple[int, str, str, str]]] = {key(sc): [] for sc in BATCH}
    for hit in batch_hits_df.collect():
        if hit.transaction_id is None or hit.transaction_id >= NULL_ID:
            continue  # test_null_rows_are_never_hits
        n, local = divmod(hit.transaction_id, ID_STRIDE)
        sc = BATCH[n - 1]
        if hit.rule_id == sc.rule_id:
            subject = hit.subject_token.removeprefix(f"s{n}_")
            result[key(sc)].append((local, subject, hit.subject_role, hit.base_severity))
    return result


def check(sc: Scenario, scenario_hits) -> None:
    hits = scenario_hits[key(sc)]
    actual = {local: severity for local, _, _, severity in hits}
    assert actual == dict(sc.expected)
    if sc.rule_id != "R08":  # a round-trip leg may be hit once per origin
        assert len(hits) == len(actual), "one hit per transaction"
    rows = {row.transaction_id: row for row in sc.rows}
    for local, subject, role, _ in hits:
        row = rows[local]
        if sc.rule_id == "R09":
            assert role == "account" and subject in (row.sender, row.receiver)
        elif sc.rule_id != "R08":
            assert subject == getattr(row, role)


def in_scenario(sc: Scenario):
    n = BATCH.index(sc) + 1
    return F.col("transaction_id").between(n * ID_STRIDE, n * ID_STRIDE + ID_STRIDE - 1)


def test_scenario_names_are_unique():
    names = [key(sc) for sc in BATCH]
    assert len(set(names)) == len(names)


def test_null_rows_are_never_hits(batch_hits_df):
    assert (
        batch_hits_df.where(
            F.col("transaction_id").isNull() | (F.col("transaction_id") >= NULL_ID)
        ).collect()
        == []
    )


@pytest.mark.parametrize("sc", R01, ids=str)
def test_large_amount_severity_climbs_strictly_above_each_threshold(sc, scenario_hits):
    check(sc, scenario_hits)


@pytest.mark.parametrize("sc", R02, ids=str)
def test_high_risk_jurisdiction_needs_differing_locations_and_a_listed_one(sc, scenario_hits):
    check(sc, scenario_hits)


@pytest.mark.parametrize("sc", R03, ids=str)
def test_structuring_flags_all_sub_threshold_receipts_of_a_72h_window(sc, scenario_hits):
    check(sc, scenario_hits)


@pytest.mark.parametrize("sc", R04, ids=str)
def test_smurfing_flags_cash_deposits_of_a_satisfied_7d_window(sc, scenario_hits):
    check(sc, scenario_hits)


@pytest.mark.parametrize("sc", R05, ids=str)
def test_fan_in_flags_all_incoming_of_a_10d_window_with_ten_senders(sc, scenario_hits):
    check(sc, scenario_hits)


@pytest.mark.parametrize("sc", R06, ids=str)
def test_fan_out_flags_all_outgoing_of_a_10d_window_with_ten_receivers(sc, scenario_hits):
    check(sc, scenario_hits)


@pytest.mark.parametrize("sc", R07, ids=str)
def test_velocity_spike_compares_7d_outflow_with_the_30d_pace(sc, scenario_hits):
    check(sc, scenario_hits)


@pytest.mark.parametrize("sc", R08, ids=str)
def test_round_trip_flags_every_leg_of_a_closed_chain(sc, scenario_hits):
    check(sc, scenario_hits)


@pytest.mark.parametrize("sc", R09, ids=str)
def test_rapid_pass_through_flags_the_deposit_and_the_matching_out(sc, scenario_hits):
    check(sc, scenario_hits)


def test_round_trip_subject_is_the_first_legs_sender_and_loops_are_other_subjects(
    spark, batch_hits_df
):
    # A -> B -> C -> B -> A: the loop B -> C -> B is not part of A's chain; A's chain is the
    # shortcut A -> B -> A, and B -> C -> B is a round trip of its own (subject B).
    sc = next(s for s in R08 if s.name == "a_loop_inside_a_chain_is_a_round_trip_of_its_own")
    n = BATCH.index(sc) + 1
    hits_df = batch_hits_df.where(in_scenario(sc) & (F.col("rule_id") == "R08")).select(
        (F.col("transaction_id") - n * ID_STRIDE).alias("transaction_id"),
        F.regexp_replace("subject_token", "^s[0-9]+_", "").alias("subject_token"),
        "subject_role",
    )
    expected_df = spark.createDataFrame(
        [(1, "A", "sender"), (4, "A", "sender"), (2, "B", "sender"), (3, "B", "sender")],
        "transaction_id BIGINT, subject_token STRING, subject_role STRING",
    )
    assert_df_equality(hits_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_subject_attributes_come_from_the_subjects_side(spark, batch_hits_df):
    n = BATCH.index(ATTRIBUTES) + 1
    hits_df = batch_hits_df.where(in_scenario(ATTRIBUTES)).select(
        "rule_id",
        (F.col("transaction_id") - n * ID_STRIDE).alias("transaction_id"),
        F.regexp_replace("subject_token", "^s[0-9]+_", "").alias("subject_token"),
        "subject_is_pep",
        "subject_is_high_risk",
        "base_severity",
    )
    expected_df = spark.createDataFrame(
        [
            ("R01", 1, "A", True, False, "MEDIUM"),
            ("R03", 2, "Z", False, True, "HIGH"),
            ("R03", 3, "Z", False, True, "HIGH"),
            ("R03", 4, "Z", False, True, "HIGH"),
            ("R01", 5, "N", False, False, "MEDIUM"),
        ],
        "rule_id STRING, transaction_id BIGINT, subject_token STRING, subject_is_pep BOOLEAN, "
        "subject_is_high_risk BOOLEAN, base_severity STRING",
    )
    assert_df_equality(hits_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_rules_never_read_the_laundering_labels(spark, batch_hits_df):
    # Misleading labels: rows of 5000 or more say "normal", every other row says "laundering".
    labelled_df = tx_df(spark, batch_rows()).withColumns(
        {
            "is_laundering": F.when(F.col("amount") >= 5000, 0).otherwise(1),
            "laundering_type": F.when(F.col("amount") >= 5000, "Normal_Small_Fan_Out").otherwise(
                "Structuring"
            ),
        }
    )
    columns = ("rule_id", "transaction_id", "subject_token", "base_severity", "alert_id")
    labelled_hits_df = evaluation.evaluate(spark, labelled_df, PACK, LINEAGE).select(*columns)
    assert_df_equality(labelled_hits_df, batch_hits_df.select(*columns), ignore_row_order=True)


def test_rule_input_columns_are_the_schemas_fields_in_order(spark):
    """The gold job holds silver cut to these names (aml.gold.job): they must be the schema's."""
    schema_df = spark.createDataFrame([], evaluation.RULE_INPUT_SCHEMA)
    assert list(evaluation.RULE_INPUT_COLUMNS) == schema_df.columns
