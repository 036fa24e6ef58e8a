"""``gold.account_profiles`` and ``gold.segment_profiles`` (``docs/RULES_V2.md``, "Behavioural
profiles"): the worked example to the cent, window edges and bands at their edges, a Python oracle
of the specification on seeded random rows, the scoped computation equal to the full one, and
the Delta publication (full, scoped, rerun).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections import defaultdict
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from tests.unit.gold_rows import CASH_TYPES, DAY, T0, Tx, tx_df

from aml import frames
from aml.config import ConfigError
from aml.gold import baselines, profiles
from aml.gold.profiles import ProfileParams, ProfileScope
from aml.gold.row_index import RowIndex

COMPARED = tuple(c for c in profiles.ACCOUNT_PROFILE_COLUMNS if c not in ("profile_key",))


def at(text: str) -> int:
    """Seconds after :data:`T0` of a UTC time ``YYYY-MM-DD HH:MM:SS``."""
    return int((dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC) - T0).total_seconds())


def by_key(rows) -> dict[tuple, dict]:
    """Collected profile rows by (account or segment, week), arrays as lists."""
    out = {}
    for row in rows:
        d = row.asDict()
        out[(d.get("account_token", d.get("segment_id")), d["week_start"])] = d
    return out


# The worked example of RULES_V2.md ------------------------------------------------------------
WEEK = dt.date(2024, 4, 8)
EXAMPLE = [
    Tx(1, at("2024-01-08 23:59:59"), "700.00", "A", "B"),
    Tx(2, at("2024-01-09 00:00:00"), "1000.00", "A", "B"),
    Tx(3, at("2024-02-14 10:00:00"), "2500.00", "A", "C", "Cross-border", receiver_location="UAE"),
    Tx(4, at("2024-03-01 09:00:00"), "4000.00", "D", "A", "Cash Deposit"),
    Tx(5, at("2024-03-10 15:00:00"), None, "A", "B"),
    Tx(6, at("2024-04-07 23:59:59"), "1500.00", "A", "C", "ACH"),
    Tx(7, at("2024-04-08 00:00:00"), "9000.00", "A", "E", sender_risk="MEDIUM"),
    Tx(8, at("2024-04-10 08:00:00"), "100.00", "E", "A", receiver_risk="HIGH"),
]
EXAMPLE_PROFILE = {
    "account_token": "A", "week_start": WEEK, "window_days": 90, "history_days": 91,
    "days_since_last_activity": 1, "sent_count": 3, "sent_amount_sum": Decimal("5000.00"),
    "sent_amount_max": Decimal("2500.00"), "sent_amount_median": Decimal("1500.0000"),
    "received_count": 1, "received_amount_sum": Decimal("4000.00"), "distinct_payees": 2,
    "distinct_payers": 1, "cash_count": 1, "cash_share": Decimal("0.250000"),
    "cross_border_count": 1, "cross_border_share": Decimal("0.250000"),
    "payment_types": ["ACH", "Cash Deposit", "Cheque", "Cross-border"],
    "corridors": ["UK>UAE", "UK>UK"], "customer_risk_rating": "HIGH", "is_pep": False,
    "activity_band": "A1", "counterparty_band": "C2", "cash_band": "K1",
    "cross_border_band": "X1", "risk_band": "R1", "segment_id": "A1|C2|K1|X1|R1",
    "params_hash": ProfileParams().hash,
}  # fmt: skip

# Six accounts of one segment (A1|C1|K0|X0|R0) in the week of 2024-04-08: sent maxima 100, 200,
# 300, 400, 10000 and one account with received history only.
PEERS = [
    Tx(11, at("2024-03-04 10:00:00"), "100.00", "M1", "N1"),
    Tx(12, at("2024-03-04 10:00:00"), "200.00", "M2", "N1"),
    Tx(13, at("2024-03-04 10:00:00"), "300.00", "M3", "N1"),
    Tx(14, at("2024-03-05 10:00:00"), "50.00", "M3", "N2"),
    Tx(15, at("2024-03-04 10:00:00"), "400.00", "M4", "N1"),
    Tx(16, at("2024-03-04 10:00:00"), "10000.00", "M5", "N1"),
    Tx(17, at("2024-03-05 10:00:00"), "10.00", "M5", "N2"),
    Tx(18, at("2024-03-04 10:00:00"), "80.00", "N3", "M6"),
    *[Tx(20 + i, at("2024-04-09 10:00:00"), "5.00", "Z", f"M{i}") for i in range(1, 7)],
]
EXAMPLE_SEGMENT = {
    "segment_id": "A1|C1|K0|X0|R0", "week_start": WEEK, "account_count": 6, "sender_count": 5,
    "sent_amount_max_p50": Decimal("300.0000"), "sent_amount_max_p90": Decimal("6160.0000"),
    "sent_amount_max_p99": Decimal("9616.0000"), "distinct_payees_p50": Decimal("1.00"),
    "distinct_payees_p90": Decimal("2.00"), "distinct_payees_p99": Decimal("2.00"),
    "params_hash": ProfileParams().hash,
}  # fmt: skip


@pytest.fixture(scope="module")
def example(spark) -> tuple[dict, dict]:
    profiles_df = profiles.account_profiles(tx_df(spark, [*EXAMPLE, *PEERS])).cache()
    return by_key(profiles_df.collect()), by_key(profiles.segment_profiles(profiles_df).collect())


def test_worked_example_profile_of_a_in_the_week_of_2024_04_08(example):
    row = example[0][("A", WEEK)]
    assert row["profile_key"] == "A|2024-04-08"
    assert {c: row[c] for c in EXAMPLE_PROFILE} == EXAMPLE_PROFILE


def test_one_row_per_active_week_and_null_rows_make_no_week(example):
    weeks = sorted(week for account, week in example[0] if account == "A")
    assert weeks == [dt.date(2024, m, d) for m, d in ((1, 8), (2, 12), (2, 26), (4, 1), (4, 8))]


def test_a_first_week_has_no_history(example):
    row = example[0][("A", dt.date(2024, 1, 8))]
    assert (row["history_days"], row["days_since_last_activity"], row["sent_count"]) == (
        None, None, 0)  # fmt: skip
    assert (row["sent_amount_max"], row["sent_amount_median"], row["cash_share"]) == (
        None, None, None)  # fmt: skip
    assert row["segment_id"] == "A0|C0|K0|X0|R0"


def test_worked_example_segment_percentiles(example):
    row = example[1][("A1|C1|K0|X0|R0", WEEK)]
    assert row["profile_key"] == "A1|C1|K0|X0|R0|2024-04-08"
    assert {c: row[c] for c in EXAMPLE_SEGMENT} == EXAMPLE_SEGMENT


# Window edges and a self-transfer -----------------------------------------------------------------
def test_window_is_half_open_at_both_ends_and_a_self_transfer_is_two_rows(spark):
    ws = dt.datetime(2024, 4, 8, tzinfo=dt.UTC)
    rows = [
        Tx(1, at("2024-01-08 23:59:59"), "1.00", "S", "X"),  # ws - 91 d: outside
        Tx(2, at("2024-01-09 00:00:00"), "2.00", "S", "S"),  # ws - 90 d: inside, both sides
        Tx(3, at("2024-04-07 23:59:59"), "3.00", "S", None),  # ws - 1 s: inside, no payee
        Tx(4, at("2024-04-08 00:00:00"), "4.00", "S", "Y"),  # ws: this week, not history
        Tx(5, at("2024-04-14 23:59:59"), "5.00", "Y", "S"),  # this week's last second
    ]
    assert ws.date() == WEEK
    got = by_key(profiles.account_profiles(tx_df(spark, rows)).collect())
    row = got[("S", WEEK)]
    assert (row["sent_count"], row["sent_amount_sum"], row["received_count"]) == (
        2, Decimal("5.00"), 1)  # fmt: skip
    assert (row["distinct_payees"], row["distinct_payers"]) == (1, 1)
    assert row["sent_amount_median"] == Decimal("2.5000")
    assert (row["history_days"], row["days_since_last_activity"]) == (91, 1)
    assert ("S", dt.date(2024, 4, 15)) not in got


# Bands at their edges ---------------------------------------------------------------------------
DEFAULT_BANDS = {  # n rows in the window, each to its own payee: (activity band, counterparty band)
    0: ("A0", "C0"), 1: ("A1", "C1"), 2: ("A1", "C1"), 3: ("A1", "C2"), 4: ("A1", "C2"),
    5: ("A2", "C2"), 9: ("A2", "C2"), 10: ("A2", "C3"), 19: ("A2", "C3"), 20: ("A3", "C3"),
    29: ("A3", "C3"), 30: ("A3", "C4"), 99: ("A3", "C4"), 100: ("A4", "C4"),
}  # fmt: skip
# (cash rows, cross-border rows, rows) -> (cash band, cross-border band), default edges
SHARE_BANDS = {
    (0, 0, 2): ("K0", "X0"), (1, 1, 3): ("K1", "X1"), (1, 0, 2): ("K2", "X0"),
    (2, 3, 3): ("K2", "X1"), (49, 0, 99): ("K1", "X0"), (50, 0, 100): ("K2", "X0"),
}  # fmt: skip
HISTORY = at("2024-03-20 10:00:00")
NOW = at("2024-04-09 10:00:00")


def band_rows() -> list[Tx]:
    rows, next_id = [], 1
    for n in DEFAULT_BANDS:
        account = f"n{n}"
        for i in range(n):
            rows.append(Tx(next_id, HISTORY + i, "10.00", account, f"{account}_p{i}"))
            next_id += 1
        rows.append(Tx(next_id, NOW, "10.00", account, "sink"))
        next_id += 1
    for cash, cross, total in SHARE_BANDS:
        account = f"k{cash}_{cross}_{total}"
        for i in range(total):
            kind = "Cash Withdrawal" if i < cash else "Cheque"
            where = "UAE" if i < cross else "UK"
            rows.append(Tx(next_id, HISTORY + i, "10.00", account, "p", kind,
                           receiver_location=where))  # fmt: skip
            next_id += 1
        rows.append(Tx(next_id, NOW, "10.00", account, "sink"))
        next_id += 1
    return rows


@pytest.fixture(scope="module")
def banded(spark) -> dict:
    return by_key(profiles.account_profiles(tx_df(spark, band_rows())).collect())


@pytest.mark.parametrize("n", DEFAULT_BANDS)
def test_activity_and_counterparty_bands_at_the_default_edges(banded, n):
    row = banded[(f"n{n}", WEEK)]
    assert (row["activity_band"], row["counterparty_band"]) == DEFAULT_BANDS[n]


@pytest.mark.parametrize("counts", SHARE_BANDS, ids=str)
def test_cash_and_cross_border_bands_at_the_default_edges(banded, counts):
    row = banded[("k{}_{}_{}".format(*counts), WEEK)]
    assert (row["cash_band"], row["cross_border_band"]) == SHARE_BANDS[counts]


def test_risk_band_is_high_other_or_unknown(spark):
    rows = [
        Tx(1, NOW, "1", "h", None, sender_risk="HIGH"),
        Tx(2, NOW, "1", "l", None, sender_risk="LOW"),
        Tx(3, NOW, "1", "u", None, sender_risk=None, sender_is_pep=None),
    ]
    got = by_key(profiles.account_profiles(tx_df(spark, rows)).collect())
    assert [got[(a, WEEK)]["risk_band"] for a in "hlu"] == ["R1", "R0", "R?"]
    assert (got[("u", WEEK)]["customer_risk_rating"], got[("u", WEEK)]["is_pep"]) == (None, None)


# Parameters ---------------------------------------------------------------------------------------
def test_params_from_a_toml_profiles_table(tmp_path, base_config):
    pack = tmp_path / "pack.toml"
    pack.write_text(
        'version = "2"\n[profiles]\nhistory_days = 30\nactivity_edges = [1, 10]\n'
        "cash_high_share = 0.75\n"
    )
    params = profiles.load_params(base_config, str(pack))
    assert params == ProfileParams(30, (1, 10), (1, 3, 10, 30), Decimal("0.75"), Decimal(0))
    assert profiles.load_params(base_config, "v2") == ProfileParams()
    assert params.hash != ProfileParams().hash


@pytest.mark.parametrize(
    "values",
    [
        {"history_days": 0}, {"history_days": 1.5}, {"activity_edges": [2, 5]},
        {"activity_edges": [1, 5, 5]}, {"counterparty_edges": []}, {"counterparty_edges": 3},
        {"cash_high_share": 1.5}, {"cross_border_share_gt": -0.1}, {"history_days": True},
        {"cash_high_share": "half"}, {"activity_edges": [1, "x"]},
    ],
    ids=str,
)  # fmt: skip
def test_invalid_params_are_refused(values):
    with pytest.raises(ConfigError):
        ProfileParams.from_mapping(values)


@pytest.mark.parametrize(
    ("name", "read", "default"),
    [
        ("profiles_scoped_min_rows", baselines.scoped_min_rows, baselines.SCOPED_MIN_ROWS),
        (
            "profiles_replace_max_accounts",
            baselines.replace_max_accounts,
            profiles.REPLACE_MAX_ACCOUNTS,
        ),
    ],
)
def test_the_scoped_refresh_settings_are_whole_numbers(base_config, name, read, default):
    assert read(base_config) == default
    for value in (0, 5_000_000):
        assert read(base_config.with_settings("gold", **{name: value})) == value
    for bad in (-1, 1.5, "100000", True):
        config = base_config.with_settings("gold", **{name: bad})
        with pytest.raises(ConfigError, match=f"{name} must be a whole number"):
            read(config)


def test_a_scope_names_weeks_by_their_monday(spark):
    accounts_df = spark.createDataFrame([("A",)], "account_token STRING")
    with pytest.raises(ConfigError):
        ProfileScope(accounts_df, dt.date(2024, 4, 9), dt.date(2024, 4, 15))
    with pytest.raises(ConfigError):
        ProfileScope(accounts_df, dt.date(2024, 4, 15), dt.date(2024, 4, 8))


# The oracle: the specification in Python, on seeded random rows ---------------------------------
ACCOUNTS = [f"a{i}" for i in range(8)]
MIDNIGHT0 = at("2024-01-10 00:00:00")


def random_rows(seed: int = 11, n: int = 160) -> list[Tx]:
    """Rows over about 24 weeks, many at midnight or a second before (the window edges), with
    self-transfers, unknown counterparties and the null rows no profile may count."""
    rng = random.Random(seed)
    rows = []
    for i in range(1, n + 1):
        day = rng.randint(-3, 24 * 7)
        sec = MIDNIGHT0 + day * DAY + rng.choice([0, DAY - 1, rng.randrange(DAY)])
        sender, receiver = rng.choice([*ACCOUNTS, None]), rng.choice([*ACCOUNTS, None])
        sender_risk = rng.choice(["LOW", "MEDIUM", "HIGH", None])
        row = Tx(
            i, sec, f"{rng.randint(1, 500000) / 100:.2f}", sender, receiver,
            rng.choice(["Cheque", "ACH", "Cross-border", *CASH_TYPES, None]),
            sender_location=rng.choice(["UK", "UK", "UAE", None]),
            receiver_location=rng.choice(["UK", "UK", "France", None]),
            sender_is_pep=rng.choice([True, False, None]), sender_risk=sender_risk,
            receiver_risk=rng.choice(["LOW", "HIGH", None]),
        )  # fmt: skip
        roll = rng.random()
        if roll < 0.03:
            row = dataclasses.replace(row, amount=None)
        elif roll < 0.05:
            row = dataclasses.replace(row, sec=None)
        elif roll < 0.07:
            row = dataclasses.replace(row, transaction_id=None)
        rows.append(row)
    return rows


@dataclasses.dataclass(frozen=True)
class Side:
    account: str
    is_sent: bool
    transaction_id: int
    ts: dt.datetime
    counterparty: str | None
    amount: Decimal
    is_cash: bool
    is_cross_border: bool
    payment_type: str | None
    corridor: str | None
    risk: str | None
    is_pep: bool | None

    @property
    def week(self) -> dt.date:
        return self.ts.date() - dt.timedelta(days=self.ts.weekday())


def sides(rows: list[Tx]) -> list[Side]:
    out = []
    for r in rows:
        if r.transaction_id is None or r.sec is None or r.amount is None:
            continue
        ts = T0 + dt.timedelta(seconds=r.sec)
        is_cash = r.is_cash if r.is_cash is not None else r.payment_type in CASH_TYPES
        locations = (r.sender_location, r.receiver_location)
        known = None not in locations
        common = dict(transaction_id=r.transaction_id, ts=ts, amount=Decimal(r.amount),
                      is_cash=bool(is_cash), payment_type=r.payment_type,
                      is_cross_border=known and locations[0] != locations[1])  # fmt: skip
        if r.sender is not None:
            out.append(Side(r.sender, True, counterparty=r.receiver, risk=r.sender_risk,
                            corridor=">".join(locations) if known else None,
                            is_pep=r.sender_is_pep, **common))  # fmt: skip
        if r.receiver is not None:
            out.append(Side(r.receiver, False, counterparty=r.sender, risk=r.receiver_risk,
                            corridor=None, is_pep=r.receiver_is_pep, **common))  # fmt: skip
    return out


def percentile(values: list, p: str) -> Decimal | None:
    ordered = sorted(values)
    if not ordered:
        return None
    r = Decimal(p) * (len(ordered) - 1)
    low, high = int(r), int(r) + (r != int(r))
    return ordered[low] + (r - low) * (ordered[high] - ordered[low])


def band(prefix: str, value: int, edges: tuple[int, ...]) -> str:
    return f"{prefix}{sum(value >= e for e in edges)}"


def share(count: int, total: int) -> Decimal | None:
    if not total:
        return None
    return (Decimal(count) / Decimal(total)).quantize(Decimal("0.000001"), ROUND_HALF_UP)


def oracle(rows: list[Tx], params: ProfileParams) -> dict[tuple, dict]:
    """``account_profiles`` as RULES_V2.md states it, one account-week at a time."""
    all_sides = sides(rows)
    out = {}
    for account, week in {(s.account, s.week) for s in all_sides}:
        start = dt.datetime.combine(week, dt.time(), dt.UTC)
        own = [s for s in all_sides if s.account == account]
        before = [s for s in own if s.ts < start]
        window = [s for s in before if s.ts >= start - dt.timedelta(days=params.history_days)]
        sent = [s for s in window if s.is_sent]
        received = [s for s in window if not s.is_sent]
        this_week = [s for s in own if s.week == week]
        rated = [(s.ts, s.transaction_id, s.risk) for s in this_week if s.risk is not None]
        pep = [(s.ts, s.transaction_id, s.is_pep) for s in this_week if s.is_pep is not None]
        payees = {s.counterparty for s in sent if s.counterparty is not None}
        payers = {s.counterparty for s in received if s.counterparty is not None}
        n, cash = len(window), sum(s.is_cash for s in window)
        cross = sum(s.is_cross_border for s in window)
        risk = max(rated)[2] if rated else None
        bands = {
            "activity_band": band("A", n, params.activity_edges),
            "counterparty_band": band("C", len(payees) + len(payers), params.counterparty_edges),
            "cash_band": "K0" if cash == 0 else "K2" if cash >= params.cash_high_share * n
            else "K1",
            "cross_border_band": "X1" if cross > params.cross_border_share_gt * n else "X0",
            "risk_band": {"HIGH": "R1", None: "R?"}.get(risk, "R0"),
        }  # fmt: skip
        out[(account, week)] = {
            "account_token": account, "week_start": week, "window_days": params.history_days,
            "history_days": (week - min(s.ts for s in before).date()).days if before else None,
            "days_since_last_activity":
                (week - max(s.ts for s in before).date()).days if before else None,
            "sent_count": len(sent), "sent_amount_sum": sum(s.amount for s in sent),
            "sent_amount_max": max((s.amount for s in sent), default=None),
            "sent_amount_median": percentile([s.amount for s in sent], "0.50"),
            "received_count": len(received),
            "received_amount_sum": sum(s.amount for s in received),
            "distinct_payees": len(payees), "distinct_payers": len(payers),
            "cash_count": cash, "cash_share": share(cash, n),
            "cross_border_count": cross, "cross_border_share": share(cross, n),
            "payment_types": sorted({s.payment_type for s in window} - {None}),
            "corridors": sorted({s.corridor for s in sent} - {None}),
            "customer_risk_rating": risk, "is_pep": max(pep)[2] if pep else None,
            **bands, "segment_id": "|".join(bands.values()), "params_hash": params.hash,
        }  # fmt: skip
    return out


QUANTILES = ("0.50", "0.90", "0.99")


def segment_oracle(account_rows: dict[tuple, dict]) -> dict[tuple, dict]:
    groups = defaultdict(list)
    for row in account_rows.values():
        groups[(row["segment_id"], row["week_start"])].append(row)
    out = {}
    for (segment, week), members in groups.items():
        maxima = [r["sent_amount_max"] for r in members if r["sent_amount_max"] is not None]
        payees = [r["distinct_payees"] for r in members]
        out[(segment, week)] = {
            "segment_id": segment, "week_start": week, "account_count": len(members),
            "sender_count": len(maxima), "params_hash": members[0]["params_hash"],
            **{f"sent_amount_max_p{p[2:]}": percentile(maxima, p) for p in QUANTILES},
            **{f"distinct_payees_p{p[2:]}": percentile(payees, p) for p in QUANTILES},
        }  # fmt: skip
    return out


RANDOM = random_rows()
SMALL_BANDS = ProfileParams(14, (1, 3), (1, 2), Decimal("0.25"), Decimal("0.3"))


@pytest.fixture(scope="module")
def random_tx_df(spark):
    return tx_df(spark, RANDOM)


@pytest.mark.parametrize("params", [ProfileParams(), SMALL_BANDS], ids=["defaults", "small"])
def test_profiles_and_segments_match_the_oracle_on_random_rows(spark, random_tx_df, params):
    profiles_df = profiles.account_profiles(random_tx_df, params).cache()
    got = by_key(profiles_df.collect())
    expected = oracle(RANDOM, params)
    assert sorted(got) == sorted(expected)
    for key, row in expected.items():
        assert {c: got[key][c] for c in COMPARED} == row, key
    got_segments = by_key(profiles.segment_profiles(profiles_df).collect())
    expected_segments = segment_oracle(got)
    assert sorted(got_segments) == sorted(expected_segments)
    for key, row in expected_segments.items():
        assert {c: got_segments[key][c] for c in row} == row, key
    assert len(expected_segments) > 6  # the rows exercise several bands


# Scoped equals full -------------------------------------------------------------------------------
SCOPED = ("a1", "a4", "a6", "nobody")
MIDDLE = (dt.date(2024, 3, 11), dt.date(2024, 4, 22))
EVERYTHING = (dt.date(2023, 12, 25), dt.date(2024, 7, 1))


@pytest.mark.parametrize(
    ("params", "weeks"),
    [(SMALL_BANDS, MIDDLE), (ProfileParams(), MIDDLE), (SMALL_BANDS, EVERYTHING)],
    ids=["h14_middle_weeks", "h90_middle_weeks", "h14_every_week"],
)
def test_scoped_profiles_are_the_rows_of_the_full_computation(spark, random_tx_df, params, weeks):
    full = by_key(profiles.account_profiles(random_tx_df, params).collect())
    accounts_df = spark.createDataFrame([(a,) for a in SCOPED], "account_token STRING")
    scoped_df = profiles.account_profiles_for(random_tx_df, params, accounts_df, *weeks)
    expected = {k: v for k, v in full.items() if k[0] in SCOPED and weeks[0] <= k[1] <= weeks[1]}
    assert scoped_df.columns == list(profiles.ACCOUNT_PROFILE_COLUMNS)
    assert by_key(scoped_df.collect()) == expected
    # the same from only the rows the scope reads (what the gold job hands over, materialised),
    # found by semi-joins over silver or located with silver's row index: the same rows
    scope = profiles.ProfileScope(accounts_df, *weeks)
    found = []
    for index in (None, RowIndex.of(random_tx_df)):
        rows_df = profiles.scope_rows(random_tx_df, scope, index)
        with frames.held(rows_df) as held_df:
            # a row without an id is no profile's (VALID), and the index holds none
            ids = (row.transaction_id for row in held_df.collect())
            found.append(sorted(i for i in ids if i is not None))
            from_rows_df = profiles.account_profiles_for(held_df, params, accounts_df, *weeks)
            assert by_key(from_rows_df.collect()) == expected
    assert found[0] == found[1]
    assert 0 < len(found[0]) < random_tx_df.count()
    # the scope starts after some of its accounts' history, and leaves other weeks out
    assert len(expected) > 10
    assert any((row["history_days"] or 0) > params.history_days for row in expected.values())
    assert len(full) > len(expected)


# Publishing -------------------------------------------------------------------------------------
def table_rows(spark, config, table: str) -> dict[tuple, dict]:
    return by_key(spark.read.format("delta").load(config.table_path("gold", table)).collect())


@pytest.mark.parametrize(
    "replace_max_accounts",
    [profiles.REPLACE_MAX_ACCOUNTS, 0],
    ids=["accounts-replaced-by-predicate", "accounts-merged-by-key"],
)
def test_publish_full_then_scoped_gives_the_tables_of_a_full_rebuild(
    spark, lake_config, tmp_path, replace_max_accounts
):
    config = lake_config.with_lake(tmp_path / "lake")
    before = RANDOM[:100]
    full_df = profiles.account_profiles(tx_df(spark, before)).cache()
    versions = profiles.publish_profiles(spark, config, full_df)
    assert versions == {"gold.account_profiles": 0, "gold.segment_profiles": 0}
    first_accounts = table_rows(spark, config, "account_profiles")
    first_segments = table_rows(spark, config, "segment_profiles")
    assert first_accounts == by_key(full_df.collect())
    assert first_segments == by_key(profiles.segment_profiles(full_df).collect())

    # silver changes: a1 loses every row of one week (its account-week goes), a new account
    # appears, and a4's payments change. A row belongs to the profiles of both its sides: the
    # scope is every account of a changed row, over the weeks from the first change on.
    a1_week = min(s.week for s in sides(before) if s.account == "a1" and s.week.month == 3)
    changed = [
        dataclasses.replace(r, amount=Decimal(r.amount) + 1) if r.sender == "a4" and r.amount else r
        for r in before
        if not any(s.account == "a1" and s.week == a1_week for s in sides([r]))
    ]
    changed.append(Tx(9001, at("2024-03-20 10:00:00"), "77.00", "new", "a4"))
    touched = {s.account for s in set(sides(before)) ^ set(sides(changed))}
    after_df = tx_df(spark, changed)
    scope = ProfileScope(
        spark.createDataFrame([(a,) for a in sorted(touched)], "account_token STRING"),
        min(s.week for s in set(sides(before)) ^ set(sides(changed))),
        dt.date(2024, 7, 1),
    )
    assert {"a1", "a4", "new"} <= touched < set(ACCOUNTS) | {"new"}
    scoped_df = profiles.account_profiles_for(
        after_df, None, scope.accounts_df, scope.first_week, scope.last_week
    )
    rebuilt_df = profiles.account_profiles(after_df).cache()
    expected_accounts = by_key(rebuilt_df.collect())
    expected_segments = by_key(profiles.segment_profiles(rebuilt_df).collect())
    assert ("a1", a1_week) in first_accounts and ("a1", a1_week) not in expected_accounts
    assert expected_segments != first_segments
    for _ in range(2):  # the rerun changes nothing
        profiles.publish_profiles(
            spark, config, scoped_df, scope=scope, replace_max_accounts=replace_max_accounts
        )
        assert table_rows(spark, config, "account_profiles") == expected_accounts
        assert table_rows(spark, config, "segment_profiles") == expected_segments


def test_a_narrow_refresh_recomputes_the_segments_its_accounts_left(spark, lake_config, tmp_path):
    """x's only payment goes: x and its payee leave the segment they shared with z and its
    payee, which no scope account is in afterwards. That segment is recomputed all the same
    (two accounts fewer), as a full rebuild gives it."""
    config = lake_config.with_lake(tmp_path / "lake")
    rows = [
        Tx(1, at("2024-03-12 10:00:00"), "100.00", "x", "rx"),
        Tx(2, at("2024-03-12 11:00:00"), "100.00", "z", "rz"),
    ]
    profiles.publish_profiles(spark, config, profiles.account_profiles(tx_df(spark, rows)))
    first = table_rows(spark, config, "segment_profiles")
    assert [row["account_count"] for row in first.values()] == [4]  # one segment, all four
    after_df = tx_df(spark, rows[1:])
    week = dt.date(2024, 3, 11)
    scope = ProfileScope(
        spark.createDataFrame([("x",), ("rx",)], "account_token STRING"), week, week
    )
    scoped_df = profiles.account_profiles_for(after_df, None, scope.accounts_df, week, week)
    assert scoped_df.count() == 0  # nothing of the scope's accounts is left
    profiles.publish_profiles(spark, config, scoped_df, scope=scope)
    rebuilt_df = profiles.account_profiles(after_df)
    expected = by_key(profiles.segment_profiles(rebuilt_df).collect())
    assert [row["account_count"] for row in expected.values()] == [2]
    assert table_rows(spark, config, "segment_profiles") == expected


def log_actions(config, table: str, version: int, kind: str) -> list[dict]:
    """The ``kind`` actions (add, remove) of one commit of a gold table's Delta log."""
    log = config.table_path("gold", table).removeprefix("file:")
    commit = Path(f"{log}/_delta_log/{version:020d}.json")
    lines = commit.read_text(encoding="utf-8").splitlines()
    return [action[kind] for action in map(json.loads, lines) if kind in action]


def test_a_full_rebuild_writes_files_of_disjoint_account_ranges_and_a_narrow_scope_touches_only_its_own(  # noqa: E501
    spark, lake_config, tmp_path, monkeypatch
):
    config = lake_config.with_lake(tmp_path / "lake")
    monkeypatch.setattr(profiles, "ROWS_PER_FILE", 40)
    full_df = profiles.account_profiles(tx_df(spark, RANDOM[:300])).cache()
    profiles.publish_profiles(spark, config, full_df)
    ranges = {}
    for add in log_actions(config, "account_profiles", 0, "add"):
        stats = json.loads(add["stats"])
        assert stats["numRecords"] <= 40
        ranges[add["path"]] = (
            stats["minValues"]["account_token"],
            stats["maxValues"]["account_token"],
        )
    assert len(ranges) >= 3
    ordered = sorted(ranges.values())
    # in (token, week) order: only a boundary account's weeks can be split between two files
    assert all(hi <= lo for (_, hi), (lo, _) in zip(ordered, ordered[1:], strict=False))

    account = sorted(full_df.select("account_token").distinct().toPandas()["account_token"])[1]
    weeks = full_df.agg(F.min("week_start"), F.max("week_start")).first()
    accounts_df = spark.createDataFrame([(account,)], "account_token STRING")
    scope = ProfileScope(accounts_df, weeks[0], weeks[1])
    changed_df = full_df.withColumn("sent_count", F.col("sent_count") + 1)
    profiles.publish_profiles(spark, config, changed_df, scope=scope)
    touched = [r["path"] for r in log_actions(config, "account_profiles", 1, "remove")]
    assert touched and all(ranges[p][0] <= account <= ranges[p][1] for p in touched)
    published = table_rows(spark, config, "account_profiles")
    assert published == by_key(
        changed_df.where(F.col("account_token") == account)
        .unionByName(full_df.where(F.col("account_token") != account))
        .collect()
    )


def test_a_table_of_many_small_files_is_laid_out_again_in_ranges_without_a_data_change(
    spark, lake_config, tmp_path, monkeypatch
):
    config = lake_config.with_lake(tmp_path / "lake")
    path = config.table_path("gold", "account_profiles")
    monkeypatch.setattr(profiles, "ROWS_PER_FILE", 40)
    rows_df = profiles.account_profiles(tx_df(spark, RANDOM[:300])).cache()
    keys = [r[0] for r in rows_df.select(profiles.KEY).orderBy(profiles.KEY).collect()]
    for part in range(12):  # what scoped refreshes leave: files across the whole key range
        chunk_df = rows_df.where(F.col(profiles.KEY).isin(keys[part::12])).coalesce(1)
        chunk_df.write.format("delta").mode("append").save(path)
    before = table_rows(spark, config, "account_profiles")
    laid_out = -(-len(keys) // 40)  # the files a layout in ranges makes
    monkeypatch.setattr(profiles, "SPARE_FILES", 0)
    assert profiles.RELAYOUT_FACTOR * laid_out < 12  # so 12 files are too many

    assert profiles.keep_laid_out(spark, path, profiles.ACCOUNT_RANGES) == 12
    assert table_rows(spark, config, "account_profiles") == before
    adds = log_actions(config, "account_profiles", 12, "add")
    assert len(adds) == laid_out and not any(add["dataChange"] for add in adds)
    assert all(not r["dataChange"] for r in log_actions(config, "account_profiles", 12, "remove"))
    ordered = sorted(
        (json.loads(a["stats"])["minValues"]["account_token"],
         json.loads(a["stats"])["maxValues"]["account_token"]) for a in adds
    )  # fmt: skip
    assert all(hi <= lo for (_, hi), (lo, _) in zip(ordered, ordered[1:], strict=False))
    # laid out: left alone until refreshes add files again
    assert profiles.keep_laid_out(spark, path, profiles.ACCOUNT_RANGES) is None
