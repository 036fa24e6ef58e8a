"""Every injected instance meets its rule's exact condition on the written CSV (no Spark).

R03 and R04 are checked with an independent implementation written from RULES.md here; the other
rules use the generator's reference semantics in :mod:`aml.generate.rulecheck`, applied to the full
file (so the check sees everything the gold layer would see, not just the planned rows).
"""

from __future__ import annotations

import csv
import datetime as dt
from collections import defaultdict

import pytest

from aml.generate import rulecheck
from aml.generate.domains import PAYMENT_TYPES, TYPOLOGY_RULE
from aml.generate.generator import generate
from aml.generate.plan import Tx

pytestmark = pytest.mark.unit

HOURS_72 = 72 * 3600
DAYS_7 = 7 * 86400


def _ts(row: dict[str, str]) -> int:
    day = dt.date.fromisoformat(row["Date"]).toordinal() * 86400
    h, m, s = (int(x) for x in row["Time"].split(":"))
    return day + h * 3600 + m * 60 + s


def _cents(amount: str) -> int:
    whole, frac = amount.split(".")
    return int(whole) * 100 + int(frac)


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    out = tmp_path_factory.mktemp("rules") / "ds"
    generate(out, 60_000, seed=11, laundering_rate=0.004)
    with (out / "transactions.csv").open(newline="") as fh:
        rows = list(csv.DictReader(fh))
    txs = [
        Tx(
            _ts(r),
            int(r["Sender_account"]),
            int(r["Receiver_account"]),
            _cents(r["Amount"]),
            PAYMENT_TYPES.index(r["Payment_type"]),
        )
        for r in rows
    ]
    instances: dict[int, list[int]] = defaultdict(list)
    kinds: dict[int, str] = {}
    for name in ("ground_truth.csv", "hard_negatives.csv"):
        with (out / name).open(newline="") as fh:
            for entry in csv.DictReader(fh):
                instance = int(entry["instance_id"])
                instances[instance].append(int(entry["transaction_id"]) - 1)
                kinds[instance] = entry.get("laundering_type") or entry["rule_id"]
    by_account: dict[int, set[int]] = defaultdict(set)
    for i, tx in enumerate(txs):
        by_account[tx.sender].add(i)
        by_account[tx.receiver].add(i)
    return {"txs": txs, "instances": instances, "kinds": kinds, "by_account": by_account}


def _subject_rows(data: dict[str, object], index: list[int]) -> list[int]:
    """All rows of the dataset that touch an account of the instance."""
    txs, by_account = data["txs"], data["by_account"]
    accounts = {txs[i].sender for i in index} | {txs[i].receiver for i in index}
    return sorted(set().union(*(by_account[a] for a in accounts)))


def _of_kind(data: dict[str, object], kind: str) -> list[list[int]]:
    return [rows for inst, rows in data["instances"].items() if data["kinds"][inst] == kind]


def independent_r03(txs: list[Tx], candidates: list[int]) -> set[int]:
    """R03 from RULES.md: >= 3 receipts of 8000 <= amount < 10000 in a closed 72 h window."""
    by_receiver = defaultdict(list)
    for i in candidates:
        if 800_000 <= txs[i].cents < 1_000_000:
            by_receiver[txs[i].receiver].append(i)
    hits = set()
    for members in by_receiver.values():
        for t in members:
            window = [q for q in members if txs[t].sec - HOURS_72 <= txs[q].sec <= txs[t].sec]
            if len(window) >= 3:
                hits.update(window)
    return hits


def independent_r04(txs: list[Tx], candidates: list[int]) -> set[int]:
    """R04: cash deposits < 10000, 7 days: >= 5 rows, >= 3 senders, sum >= 10000."""
    by_receiver = defaultdict(list)
    for i in candidates:
        if PAYMENT_TYPES[txs[i].ptype] == "Cash Deposit" and txs[i].cents < 1_000_000:
            by_receiver[txs[i].receiver].append(i)
    hits = set()
    for members in by_receiver.values():
        for t in members:
            window = [q for q in members if txs[t].sec - DAYS_7 <= txs[q].sec <= txs[t].sec]
            if (
                len(window) >= 5
                and len({txs[q].sender for q in window}) >= 3
                and sum(txs[q].cents for q in window) >= 1_000_000
            ):
                hits.update(window)
    return hits


@pytest.mark.parametrize(
    ("kind", "checker"), [("Structuring", independent_r03), ("Smurfing", independent_r04)]
)
def test_every_structuring_and_smurfing_instance_meets_the_exact_rule(
    data: dict[str, object], kind: str, checker: object
) -> None:
    txs = data["txs"]
    instances = _of_kind(data, kind)
    assert len(instances) >= 3
    for index in instances:
        assert checker(txs, _subject_rows(data, index)) & set(index), index


@pytest.mark.parametrize("kind", sorted(k for k, rule in TYPOLOGY_RULE.items() if rule))
def test_every_rule_mapped_instance_is_detected_by_its_rule(
    data: dict[str, object], kind: str
) -> None:
    txs = data["txs"]
    rule = TYPOLOGY_RULE[kind]
    instances = _of_kind(data, kind)
    assert instances
    for index in instances:
        subject = _subject_rows(data, index)
        hit = rulecheck.hits(rule, [txs[i] for i in subject])
        assert {subject[h] for h in hit} & set(index), (kind, index)


@pytest.mark.parametrize("rule", ["R01", "R03", "R04", "R05", "R06", "R07", "R08", "R09"])
def test_hard_negatives_stay_under_their_rule(data: dict[str, object], rule: str) -> None:
    txs = data["txs"]
    negatives = _of_kind(data, rule)
    assert negatives
    for index in negatives:
        subject = _subject_rows(data, index)
        assert not rulecheck.hits(rule, [txs[i] for i in subject]), (rule, index)


def test_independent_r03_agrees_with_reference_on_edges() -> None:
    base = 10 * 86400
    txs = [
        Tx(base, 1, 9, 800_000, 0),
        Tx(base + HOURS_72, 2, 9, 999_999, 0),
        Tx(base + HOURS_72, 3, 9, 900_000, 0),
        Tx(base + 2 * HOURS_72 + 1, 4, 9, 900_000, 0),
    ]
    assert independent_r03(txs, list(range(4))) == rulecheck.r03(txs) == {0, 1, 2}
    assert not rulecheck.r03([Tx(0, 1, 9, 1_000_000, 0)] * 3)
