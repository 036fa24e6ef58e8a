"""The synthetic SAML-D generator: format, labels, determinism and increments."""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import json
import re
from collections import Counter
from pathlib import Path

import pytest

from aml.generate import cli
from aml.generate.domains import (
    HEADER,
    LAUNDERING_TYPES,
    LOCATION_ISO2,
    LOCATION_NAMES,
    NORMAL_TYPES,
    PAYMENT_TYPES,
    SUSPICIOUS_TYPES,
)
from aml.generate.generator import generate
from aml.generate.increment import generate_increment

pytestmark = pytest.mark.unit

ROWS = 50_000
CURRENCY_OF = {
    "UK": "UK pounds",
    "USA": "US dollar",
    "Switzerland": "Swiss franc",
    "Japan": "Yen",
    "India": "Indian rupee",
    "Pakistan": "Pakistani rupee",
    "Nigeria": "Naira",
    "Albania": "Albanian lek",
    "Turkey": "Turkish lira",
    "Morocco": "Moroccan dirham",
    "UAE": "Dirham",
    "Mexico": "Mexican Peso",
}
PATTERNS = {
    "Time": r"([01]\d|2[0-3]):[0-5]\d:[0-5]\d",
    "Date": r"\d{4}-\d{2}-\d{2}",
    "Sender_account": r"[1-9]\d{0,9}",
    "Receiver_account": r"[1-9]\d{0,9}",
    "Amount": r"\d+\.\d{2}",
    "Is_laundering": r"[01]",
}


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("saml_d") / "ds"
    generate(out, ROWS, seed=7)
    generate_increment(out)
    generate_increment(out)
    return out


@pytest.fixture(scope="module")
def rows(dataset: Path) -> list[dict[str, str]]:
    return read_csv(dataset / "transactions.csv")


def test_header_is_exactly_saml_d(dataset: Path) -> None:
    first_line = (dataset / "transactions.csv").read_text(encoding="utf-8").split("\n", 1)[0]
    assert first_line == ",".join(HEADER)
    assert b'"' not in (dataset / "transactions.csv").read_bytes()


def test_every_value_has_the_saml_d_format_and_domain(rows: list[dict[str, str]]) -> None:
    assert len(rows) == ROWS
    compiled = {col: re.compile(p) for col, p in PATTERNS.items()}
    for row in rows:
        for col, pattern in compiled.items():
            assert pattern.fullmatch(row[col]), (col, row)
        assert row["Payment_type"] in PAYMENT_TYPES
        assert row["Laundering_type"] in LAUNDERING_TYPES
        for side in ("Sender", "Receiver"):
            location = row[f"{side}_bank_location"]
            assert location in LOCATION_NAMES
        assert row["Payment_currency"] == CURRENCY_OF.get(row["Sender_bank_location"], "Euro")
        assert row["Received_currency"] == CURRENCY_OF.get(row["Receiver_bank_location"], "Euro")


def test_rows_are_sorted_positive_and_never_self_transfers(rows: list[dict[str, str]]) -> None:
    keys = [(r["Date"], r["Time"]) for r in rows]
    assert keys == sorted(keys)
    assert all(float(r["Amount"]) > 0 for r in rows)
    assert all(r["Sender_account"] != r["Receiver_account"] for r in rows)
    assert all(v for r in rows for v in r.values())


def test_is_laundering_is_one_exactly_for_the_17_suspicious_types(
    rows: list[dict[str, str]],
) -> None:
    assert len(SUSPICIOUS_TYPES) == 17 and len(NORMAL_TYPES) == 11
    for row in rows:
        assert (row["Is_laundering"] == "1") == (row["Laundering_type"] in SUSPICIOUS_TYPES)


def test_every_typology_and_normal_type_is_present(rows: list[dict[str, str]]) -> None:
    types = Counter(r["Laundering_type"] for r in rows)
    assert set(types) == set(LAUNDERING_TYPES)
    assert types["Normal_Small_Fan_Out"] / ROWS == pytest.approx(0.366, abs=0.02)


def test_cross_border_payment_type_whenever_non_cash_locations_differ(
    rows: list[dict[str, str]],
) -> None:
    for row in rows:
        differ = row["Sender_bank_location"] != row["Receiver_bank_location"]
        if row["Payment_type"] not in ("Cash Deposit", "Cash Withdrawal"):
            assert (row["Payment_type"] == "Cross-border") == differ


def test_ground_truth_names_existing_ids_with_their_label(
    dataset: Path, rows: list[dict[str, str]]
) -> None:
    truth = read_csv(dataset / "ground_truth.csv")
    by_id = {i + 1: row for i, row in enumerate(rows)}
    for entry in truth:
        row = by_id[int(entry["transaction_id"])]
        assert row["Laundering_type"] == entry["laundering_type"]
        assert row["Is_laundering"] == "1"
    assert len(truth) == sum(r["Is_laundering"] == "1" for r in rows)
    for entry in read_csv(dataset / "hard_negatives.csv"):
        assert by_id[int(entry["transaction_id"])]["Is_laundering"] == "0"
        assert entry["rule_id"] in {"R01", "R03", "R04", "R05", "R06", "R07", "R08", "R09"}


def test_accounts_list_every_transacting_account_once(
    dataset: Path, rows: list[dict[str, str]]
) -> None:
    accounts = read_csv(dataset / "accounts.csv")
    numbers = [a["account_number"] for a in accounts]
    assert len(numbers) == len(set(numbers))
    used = {r["Sender_account"] for r in rows} | {r["Receiver_account"] for r in rows}
    assert used <= set(numbers)
    per_customer = Counter(a["customer_id"] for a in accounts)
    assert set(per_customer.values()) <= {1, 2, 3}
    customers = read_csv(dataset / "customers.csv")
    assert {c["customer_id"] for c in customers} == set(per_customer)
    assert {c["risk_rating"] for c in customers} == {"LOW", "MEDIUM", "HIGH"}
    assert {c["country"] for c in customers} <= set(LOCATION_ISO2)
    high = sum(c["risk_rating"] == "HIGH" for c in customers) / len(customers)
    assert 0.02 < high < 0.06
    start = dt.date(2022, 10, 7)
    assert all(dt.date.fromisoformat(a["opened_date"]) < start for a in accounts)


def test_manifest_describes_the_files(dataset: Path) -> None:
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["first_transaction_id"] == 1 and manifest["last_transaction_id"] == ROWS
    assert manifest["files"]["transactions.csv"]["rows"] == ROWS
    assert sum(manifest["laundering_type_counts"].values()) == ROWS
    assert manifest["start_date"] == "2022-10-07"


def test_same_seed_gives_identical_bytes_and_another_seed_does_not(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generate(tmp_path / name, 12_000, seed=seed)
        generate_increment(tmp_path / name)
    files = [
        "transactions.csv",
        "accounts.csv",
        "customers.csv",
        "ground_truth.csv",
        "manifest.json",
        "increments/0001/transactions.csv",
        "increments/0001/updates.csv",
    ]
    for name in files:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name
    assert (tmp_path / "a/transactions.csv").read_bytes() != (
        tmp_path / "c/transactions.csv"
    ).read_bytes()


def test_increments_continue_ids_and_dates_and_update_earlier_rows(dataset: Path) -> None:
    base = json.loads((dataset / "manifest.json").read_text())
    last_id, last_date = base["last_transaction_id"], dt.date.fromisoformat(base["end_date"])
    labels = {
        i + 1: r["Is_laundering"] for i, r in enumerate(read_csv(dataset / "transactions.csv"))
    }
    for number in (1, 2):
        folder = dataset / "increments" / f"{number:04d}"
        manifest = json.loads((folder / "manifest.json").read_text())
        assert manifest["first_transaction_id"] == last_id + 1
        day_rows = read_csv(folder / "transactions.csv")
        assert {r["Date"] for r in day_rows} == {(last_date + dt.timedelta(days=1)).isoformat()}
        assert manifest["last_transaction_id"] == last_id + len(day_rows)
        truth = read_csv(folder / "ground_truth.csv")
        assert truth and all(
            last_id < int(t["transaction_id"]) <= manifest["last_transaction_id"] for t in truth
        )
        updates = read_csv(folder / "updates.csv")
        assert list(updates[0]) == ["transaction_id", *HEADER]
        assert len(updates) > 0 and all(1 <= int(u["transaction_id"]) <= last_id for u in updates)
        assert all(labels[int(u["transaction_id"])] == u["Is_laundering"] == "0" for u in updates)
        labels.update({last_id + 1 + i: r["Is_laundering"] for i, r in enumerate(day_rows)})
        last_id, last_date = manifest["last_transaction_id"], last_date + dt.timedelta(days=1)


def test_increment_accounts_are_new_and_listed(dataset: Path) -> None:
    known = {a["account_number"] for a in read_csv(dataset / "accounts.csv")}
    folder = dataset / "increments" / "0001"
    new = {a["account_number"] for a in read_csv(folder / "accounts.csv")}
    assert not known & new
    used = {
        r[c]
        for r in read_csv(folder / "transactions.csv")
        for c in ("Sender_account", "Receiver_account")
    }
    assert used <= known | new


def test_cli_refuses_increment_on_a_folder_without_manifest(tmp_path: Path) -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env")
    cli.register(parser.add_subparsers())
    args = parser.parse_args(["generate", "--out", str(tmp_path / "none"), "--increment"])
    assert args.func(args) == 2


def test_progress_reaches_the_total_and_tiny_datasets_are_refused(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    generate(tmp_path / "p", 8_000, seed=5, progress=lambda done, total: seen.append((done, total)))
    assert seen[-1] == (8_000, 8_000)
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    with pytest.raises(ValueError, match="cannot hold"):
        generate(tmp_path / "tiny", 200, seed=5)
