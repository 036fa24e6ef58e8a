# ruff: noqa: E501  (SAML-D rows are kept one per line, as in the file)
"""``aml load`` into the real PostgreSQL and MariaDB sources: ids, round trips, idempotency.

The tests share the local databases with whatever else is loaded there, so they use their own
high id range and customer/account keys, clean those before and after, and never truncate.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from aml.config import Config, load_config
from aml.sources import cli, db
from aml.sources.csvfiles import SAML_D_HEADER, LoadError, file_sha256
from aml.sources.loader import load

pytestmark = pytest.mark.integration

FIRST_ID = 8_800_000_001
ROWS = [  # SAML-D rows as they appear in the file, edge values included
    "10:35:19,2022-10-07,8724731955,2769355426,1459.15,UK pounds,UK pounds,UK,UK,Cash Deposit,0,Normal_Cash_Deposits",
    "10:35:20,2022-10-07,9999999999,1000000000,12600000.00,UK pounds,Dirham,UK,UAE,Cross-border,1,Stacked Bipartite",
    "23:59:59,2023-08-23,1,9999999999,3.73,Euro,Yen,France,Japan,Credit card,0,Normal_Foward",
    "00:00:00,2022-12-31,5000000000,4404767002,999999.99,Indian rupee,Naira,India,Nigeria,Cash Withdrawal,1,Cash_Withdrawal",
    "08:01:02,2023-01-01,1234567890,9876543210,100.00,Mexican Peso,Albanian lek,Mexico,Albania,ACH,0,Normal_single_large",
]
BARE_ROWS = [
    "09:00:00,2023-02-01,7000000001,7000000002,250.50,Swiss franc,Swiss franc,Switzerland,Switzerland,Cheque,0,Normal_Group",
    "09:00:01,2023-02-01,7000000002,7000000001,3.73,UK pounds,Turkish lira,UK,Turkey,Cross-border,1,Layered_Fan_In",
]
CUSTOMERS = 'customer_id,full_name,date_of_birth,country,risk_rating,is_pep\n880000001,"Doe, Jane",1980-02-29,GB,HIGH,1\n880000002,Ali Khan,,AE,LOW,0\n'
ACCOUNTS = "account_number,customer_id,bank_location,opened_date\n8800000001,880000001,UK,2015-01-01\n8800000002,880000002,UAE,\n"
SOURCES = ["postgres", "mariadb"]


def write_csv(path: Path, header: tuple[str, ...], rows: list[str]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(",".join(header) + "\n" + "".join(r + "\n" for r in rows), encoding="utf-8")
    return path


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    """Base files plus increment 0001 (one new row, two corrected rows)."""
    root = tmp_path / "dataset"
    write_csv(root / "transactions.csv", SAML_D_HEADER, ROWS)
    (root / "customers.csv").write_text(CUSTOMERS, encoding="utf-8")
    (root / "accounts.csv").write_text(ACCOUNTS, encoding="utf-8")
    (root / "manifest.json").write_text(json.dumps({"first_transaction_id": FIRST_ID}))
    inc = root / "increments" / "0001"
    write_csv(inc / "transactions.csv", SAML_D_HEADER, [ROWS[0].replace("10:35:19", "11:00:00")])
    (inc / "manifest.json").write_text(json.dumps({"first_transaction_id": FIRST_ID + len(ROWS)}))
    updates = [
        f"{FIRST_ID},{ROWS[0].replace('1459.15', '1459.16')}",
        f"{FIRST_ID + 2},{ROWS[2].replace('Normal_Foward', 'Fan_Out').replace(',0,', ',1,')}",
    ]
    write_csv(inc / "updates.csv", ("transaction_id", *SAML_D_HEADER), updates)
    return root


def text_rows(conn: Any, kind: str, low: int, high: int) -> list[str]:
    """Rows of an id range rendered back to SAML-D CSV text by the database itself."""
    as_text = "{}::text" if kind == "postgresql" else "CAST({} AS CHAR)"
    cols = ", ".join(as_text.format(c) for c in db_columns())
    cur = conn.cursor()
    cur.execute(
        f"SELECT {cols} FROM core.transactions WHERE transaction_id BETWEEN %s AND %s "
        "ORDER BY transaction_id",
        (low, high),
    )
    rows = [",".join(r) for r in cur.fetchall()]
    conn.commit()
    return rows


def db_columns() -> list[str]:
    return [h.lower() for h in SAML_D_HEADER]


def scalar(conn: Any, sql: str, params: tuple[Any, ...] = ()) -> Any:
    cur = conn.cursor()
    cur.execute(sql, params)
    value = cur.fetchone()[0]
    conn.commit()
    return value


def updated_at(conn: Any, low: int, high: int) -> dict[int, Any]:
    cur = conn.cursor()
    cur.execute(
        "SELECT transaction_id, updated_at FROM core.transactions "
        "WHERE transaction_id BETWEEN %s AND %s",
        (low, high),
    )
    result = {int(k): v for k, v in cur.fetchall()}
    conn.commit()
    return result


def cleanup(conn: Any, shas: list[str]) -> None:
    cur = conn.cursor()
    cur.execute(
        "DELETE FROM core.transactions WHERE transaction_id BETWEEN %s AND %s",
        (FIRST_ID, FIRST_ID + 99),
    )
    cur.execute("DELETE FROM core.customers WHERE customer_id IN (880000001, 880000002)")
    cur.execute("DELETE FROM core.accounts WHERE account_number IN (8800000001, 8800000002)")
    for sha in shas:
        cur.execute("DELETE FROM core.loaded_files WHERE file_sha256 = %s", (sha,))
    conn.commit()


@pytest.fixture(params=SOURCES)
def source(request: pytest.FixtureRequest, services: Config) -> Iterator[tuple[str, str, Any]]:
    """(source name, kind, connection) with this module's rows removed before and after."""
    name = request.param
    conn = db.connect(services, name)
    cleanup(conn, [])
    yield name, db.source_kind(services, name), conn
    conn.rollback()
    cleanup(conn, [])
    conn.close()


def test_dataset_loads_with_matching_counts_checksum_and_values(services, source, dataset):
    name, kind, conn = source
    results = load(services, name, dataset=dataset)
    assert [(r.table, r.inserted) for r in results] == [
        ("customers", 2),
        ("accounts", 2),
        ("transactions", len(ROWS)),
    ]
    last = FIRST_ID + len(ROWS) - 1
    count, total = (
        scalar(
            conn,
            f"SELECT {agg} FROM core.transactions WHERE transaction_id BETWEEN %s AND %s",
            (FIRST_ID, last),
        )
        for agg in ("COUNT(*)", "SUM(amount)")
    )
    assert count == len(ROWS)
    assert Decimal(total) == sum(Decimal(r.split(",")[4]) for r in ROWS)
    assert text_rows(conn, kind, FIRST_ID, last) == ROWS  # ids in file order, values unchanged
    assert (
        scalar(conn, "SELECT full_name FROM core.customers WHERE customer_id = 880000001")
        == "Doe, Jane"
    )
    assert (
        scalar(
            conn,
            "SELECT COUNT(*) FROM core.customers WHERE customer_id = 880000002 "
            "AND date_of_birth IS NULL AND NOT is_pep",
        )
        == 1
    )
    assert (
        scalar(
            conn,
            "SELECT COUNT(*) FROM core.accounts WHERE account_number = 8800000002 "
            "AND opened_date IS NULL",
        )
        == 1
    )


def test_reloading_the_same_dataset_changes_nothing(services, source, dataset):
    name, kind, conn = source
    load(services, name, dataset=dataset)
    stamps = updated_at(conn, FIRST_ID, FIRST_ID + 99)
    again = load(services, name, dataset=dataset)
    assert [(r.inserted, r.updated) for r in again] == [(0, 0)] * 3
    assert updated_at(conn, FIRST_ID, FIRST_ID + 99) == stamps
    assert text_rows(conn, kind, FIRST_ID, FIRST_ID + 99) == ROWS


def test_increment_updates_replace_rows_and_move_updated_at(services, source, dataset):
    name, kind, conn = source
    load(services, name, dataset=dataset)
    before = updated_at(conn, FIRST_ID, FIRST_ID + 99)
    time.sleep(0.01)
    results = load(services, name, dataset=dataset, increments=["1"])
    assert [(r.file.name, r.inserted, r.updated) for r in results] == [
        ("transactions.csv", 1, 0),
        ("updates.csv", 0, 2),
    ]
    after = updated_at(conn, FIRST_ID, FIRST_ID + 99)
    assert after[FIRST_ID] > before[FIRST_ID] and after[FIRST_ID + 2] > before[FIRST_ID + 2]
    assert all(after[i] == before[i] for i in (FIRST_ID + 1, FIRST_ID + 3, FIRST_ID + 4))
    rows = text_rows(conn, kind, FIRST_ID, FIRST_ID + 99)
    assert rows[0].split(",")[4] == "1459.16"
    assert rows[2].endswith(",1,Fan_Out")
    assert rows[5] == ROWS[0].replace("10:35:19", "11:00:00")
    repeat = load(services, name, dataset=dataset, all_increments=True)
    assert [(r.inserted, r.updated) for r in repeat] == [(0, 0), (0, 0)]


def test_bare_saml_d_file_continues_ids_and_round_trips(services, source, tmp_path):
    name, kind, conn = source
    load(services, name, dataset=_only_base(tmp_path))  # existing max id: FIRST_ID + 4
    bare = write_csv(tmp_path / "SAML-D.csv", SAML_D_HEADER, BARE_ROWS)
    try:
        first = load(services, name, saml_d=bare)
        assert first[0].inserted == len(BARE_ROWS)
        low = FIRST_ID + len(ROWS)
        assert text_rows(conn, kind, low, low + 99) == BARE_ROWS
        again = load(services, name, saml_d=bare)
        assert again[0].inserted == 0
        assert text_rows(conn, kind, low, low + 99) == BARE_ROWS
    finally:
        cleanup(conn, [file_sha256(bare)])


def _only_base(tmp_path: Path) -> Path:
    root = tmp_path / "base"
    write_csv(root / "transactions.csv", SAML_D_HEADER, ROWS)
    (root / "manifest.json").write_text(json.dumps({"first_transaction_id": FIRST_ID}))
    return root


def test_bad_files_fail_clearly_and_load_nothing(services, source, tmp_path):
    name, _, conn = source
    with pytest.raises(LoadError, match="missing file"):
        load(services, name, saml_d=tmp_path / "nope.csv")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(ACCOUNTS)
    with pytest.raises(LoadError, match="wrong header"):
        load(services, name, saml_d=wrong)
    base = _only_base(tmp_path)
    (base / "transactions.csv").write_text(
        ",".join(SAML_D_HEADER) + "\n" + ROWS[0].replace("1459.15", "12x") + "\n"
    )
    with pytest.raises(LoadError):
        load(services, name, dataset=base)
    assert (
        scalar(
            conn, "SELECT COUNT(*) FROM core.transactions WHERE transaction_id = %s", (FIRST_ID,)
        )
        == 0
    )


def test_cli_exit_codes_and_no_password_in_errors(services, tmp_path, monkeypatch, caplog):
    args = argparse.Namespace(
        env=None,
        source="postgres",
        dataset=None,
        increment=None,
        saml_d=tmp_path / "nope.csv",
        all_increments=False,
        truncate=False,
    )
    assert cli.cmd_load(args) == 1
    monkeypatch.setenv("AML_MARIADB_PASSWORD", "not-the-password-4711")
    args.source, args.saml_d = "mariadb", write_csv(tmp_path / "x.csv", SAML_D_HEADER, ROWS[:1])
    assert cli.cmd_load(args) == 1
    assert "Access denied" in caplog.text
    assert "not-the-password-4711" not in caplog.text
    properties = db.jdbc_properties(services, "mariadb")
    assert properties["driver"] == "org.mariadb.jdbc.Driver"
    pg = services.source("postgres")
    # the environment's own settings (a pytest-xdist worker's services use a database of its own)
    url = db.jdbc_url(load_config(), "postgres")
    assert url == f"jdbc:postgresql://127.0.0.1:{pg['port']}/aml"
