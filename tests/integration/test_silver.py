"""silver.transactions + quarantine.transactions built by the real job from a bronze table.

The bronze here is text-typed, as a file- or stream-fed bronze is, so it can hold every kind of bad
record the source databases' types would refuse (a 30th of February, an id that is not a number).
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import replace

import pytest
from cryptography.fernet import Fernet

from aml.config import Config
from aml.silver import job as silver_job
from aml.silver.conform import RAW_FIELDS

GOOD = {
    "transaction_id": "1", "time": "10:15:00", "date": "2022-10-07",
    "sender_account": "8724731955", "receiver_account": "2769355426", "amount": "1459.15",
    "payment_currency": "UK pounds", "received_currency": "UK pounds",
    "sender_bank_location": "UK", "receiver_bank_location": "UK", "payment_type": "Cash Deposit",
    "is_laundering": "0", "laundering_type": "Normal_Cash_Deposits",
}  # fmt: skip
T0 = dt.datetime(2022, 10, 8, 12, 0, 0)
T1 = dt.datetime(2022, 10, 9, 12, 0, 0)

# (id, field overrides, updated_at, expected reason code); None reason = lands in silver
BAD = [
    (None, {}, T0, "MISSING_ID"),
    ("abc", {}, T0, "BAD_ID"),
    ("102", {"date": "2023-02-30"}, T0, "BAD_DATE"),
    ("103", {"time": "25:00:00"}, T0, "BAD_TIME"),
    ("104", {"amount": "-5.00"}, T0, "NON_POSITIVE_AMOUNT"),
    ("105", {"amount": "0.00"}, T0, "NON_POSITIVE_AMOUNT"),
    ("106", {"amount": "12.345"}, T0, "BAD_AMOUNT"),
    ("107", {"amount": "1e5"}, T0, "BAD_AMOUNT"),
    ("108", {"payment_currency": "Bitcoin"}, T0, "UNKNOWN_CURRENCY"),
    ("109", {"receiver_bank_location": "Atlantis"}, T0, "UNKNOWN_LOCATION"),
    ("110", {"payment_type": "Wire"}, T0, "UNKNOWN_PAYMENT_TYPE"),
    ("111", {"date": "2099-01-01"}, T0, "FUTURE_TIMESTAMP"),
    ("112", {"receiver_account": "8724731955"}, T0, "SELF_TRANSFER"),
    ("113", {"laundering_type": "x" * 100}, T0, "OVERSIZE_FIELD"),
    ("114", {"sender_account": "87247319551"}, T0, "BAD_ACCOUNT"),
    ("115", {"amount": None}, T0, "MISSING_FIELD"),
    ("116", {"is_laundering": "2"}, T0, "BAD_LABEL"),
    ("117", {"laundering_type": "Smurf"}, T0, "UNKNOWN_LAUNDERING_TYPE"),
    ("118", {"amount": "10.00"}, T0, "DUPLICATE_CONFLICT"),
    ("118", {"amount": "20.00"}, T0, "DUPLICATE_CONFLICT"),
    ("119", {"sender_account": "12a4"}, T0, "BAD_ACCOUNT"),
]
GOOD_ROWS = [
    ("1", {}, T0), ("2", {"amount": "9999.99", "payment_type": "ACH"}, T0),
    ("3", {"amount": "100.00"}, T0), ("3", {"amount": "300.00"}, T1),  # a later update wins
    ("4", {"receiver_bank_location": "Mexico", "received_currency": "Mexican Peso",
           "payment_type": "Cross-border"}, T0),
    ("5", {"is_laundering": "1"}, T0),  # label disagrees with type: kept, with a warning
]  # fmt: skip


def _row(tx_id, overrides, updated_at):
    row = {**GOOD, "transaction_id": tx_id, **overrides}
    return (*[row[f] for f in RAW_FIELDS], updated_at, "test")


@pytest.fixture()
def keys(monkeypatch):
    fernet_key = Fernet.generate_key()
    monkeypatch.setenv("AML_FERNET_KEYS", fernet_key.decode())
    monkeypatch.setenv("AML_TOKEN_KEY", Fernet.generate_key().decode())
    return fernet_key


@pytest.fixture()
def lake(base_config: Config, tmp_path):
    return base_config.with_lake(tmp_path / "lake")


def write_bronze(spark, config, rows):
    fields = ", ".join(f"{c} STRING" for c in RAW_FIELDS)
    df = spark.createDataFrame(rows, f"{fields}, updated_at TIMESTAMP, _source STRING")
    df.write.format("delta").mode("append").save(config.table_path("bronze", "transactions"))


def read(spark, config, layer, table="transactions"):
    return spark.read.format("delta").load(config.table_path(layer, table))


def test_every_bronze_id_lands_in_silver_or_quarantine_with_the_right_reason(spark, lake, keys):
    write_bronze(spark, lake, [_row(*r[:3]) for r in BAD] + [_row(*r) for r in GOOD_ROWS])
    run = silver_job.run(spark, lake)

    silver = read(spark, lake, "silver")
    quarantine = read(spark, lake, "quarantine")
    silver_ids = {r.transaction_id for r in silver.select("transaction_id").collect()}
    q_rows = quarantine.collect()
    q_ids = {r.transaction_id for r in q_rows if r.transaction_id is not None}
    bronze_ids = {int(r[0]) for r in BAD + GOOD_ROWS if r[0] and r[0].isdigit()}
    assert silver_ids == {1, 2, 3, 4, 5}
    assert not silver_ids & q_ids
    assert silver_ids | q_ids == bronze_ids
    # rows without a usable id are quarantined one for one, keyed by a keyed hash of the record
    no_id = [r for r in q_rows if r.transaction_id is None]
    assert len(no_id) == 2 and all(r.quarantine_key.startswith("row:") for r in no_id)
    fernet = Fernet(keys)

    def raw_id(r):
        return json.loads(fernet.decrypt(r.record_enc.encode())).get("transaction_id")

    expected = {str(r[0]): r[3] for r in BAD}
    got = {
        str(r.transaction_id) if r.transaction_id is not None else str(raw_id(r)): r.reason_code
        for r in q_rows
    }
    assert got == expected
    kinds = {r[3] for r in BAD}
    assert len(kinds) >= 15
    assert run.rows_quarantined == len(q_rows) == len(BAD) - 1  # the conflicting pair is one id

    by_id = {r.transaction_id: r for r in silver.collect()}
    assert str(by_id[3].amount) == "300.00"
    assert by_id[4].is_cross_border and by_id[4].receiver_high_risk_status == "SAML_D_HIGH_RISK"
    assert by_id[4].receiver_country_iso == "MX" and by_id[4].received_currency_iso == "MXN"
    assert by_id[1].is_cash and not by_id[2].is_cash
    assert by_id[1].event_ts == dt.datetime(2022, 10, 7, 10, 15, 0)
    assert by_id[5].warnings == ["LABEL_MISMATCH"] and by_id[1].warnings == []


def test_encrypted_fields_decrypt_with_plain_fernet_and_tokens_are_deterministic(spark, lake, keys):
    write_bronze(spark, lake, [_row(*r) for r in GOOD_ROWS] + [_row(*BAD[4][:3])])
    silver_job.run(spark, lake)
    fernet = Fernet(keys)
    rows = read(spark, lake, "silver").collect()
    for row in rows:
        assert fernet.decrypt(row.sender_account_enc.encode()).decode() == GOOD["sender_account"]
        assert (
            fernet.decrypt(row.receiver_account_enc.encode()).decode() == GOOD["receiver_account"]
        )
    assert len({r.sender_account_token for r in rows}) == 1
    assert rows[0].sender_account_token != rows[0].receiver_account_token
    assert "sender_account" not in read(spark, lake, "silver").columns
    (q,) = read(spark, lake, "quarantine").collect()
    record = json.loads(fernet.decrypt(q.record_enc.encode()))
    assert record["amount"] == "-5.00" and record["transaction_id"] == "104"


def test_incremental_run_moves_ids_between_silver_and_quarantine(spark, lake, keys):
    write_bronze(spark, lake, [_row("1", {}, T0), _row("2", {"amount": "-1.00"}, T0)])
    silver_job.run(spark, lake)
    assert [r.transaction_id for r in read(spark, lake, "silver").collect()] == [1]
    # the source corrects 2 and breaks 1
    write_bronze(
        spark, lake, [_row("2", {"amount": "50.00"}, T1), _row("1", {"payment_type": "Wire"}, T1)]
    )
    again = silver_job.run(spark, lake)
    assert again.rows_read == 2  # only the change feed, not the whole table
    assert [r.transaction_id for r in read(spark, lake, "silver").collect()] == [2]
    q = read(spark, lake, "quarantine").collect()
    assert [(r.transaction_id, r.reason_code) for r in q] == [(1, "UNKNOWN_PAYMENT_TYPE")]
    unchanged = silver_job.run(spark, lake)
    assert unchanged.rows_read == 0


def test_key_rotation_keeps_every_value_of_silver_and_quarantine(
    spark, lake, tmp_path, monkeypatch
):
    from aml.crypto.keys import init_key_file, key_file_path, read_key_file
    from aml.crypto.rotate import rotate

    monkeypatch.delenv("AML_FERNET_KEYS", raising=False)
    monkeypatch.delenv("AML_TOKEN_KEY", raising=False)
    secrets = tmp_path / "secrets"
    config = replace(
        lake, data={**lake.data, "paths": {**lake.data["paths"], "secrets": str(secrets)}}
    )
    init_key_file(config)
    old = read_key_file(key_file_path(config))
    write_bronze(spark, config, [_row(*r[:3]) for r in BAD] + [_row(*r) for r in GOOD_ROWS])
    silver_job.run(spark, config)
    before = {
        t: read(spark, config, *t.split(".")).count()
        for t in ("silver.transactions", "quarantine.transactions")
    }

    rotate(spark, config)

    new = read_key_file(key_file_path(config))
    assert len(new.fernet_key_bytes) == 1
    assert new.fernet_key_bytes[0] not in old.fernet_key_bytes  # the old key is gone
    fernet = Fernet(new.fernet_key_bytes[0])
    silver = read(spark, config, "silver").collect()
    assert {fernet.decrypt(r.sender_account_enc.encode()).decode() for r in silver} == {
        GOOD["sender_account"]
    }
    for r in read(spark, config, "quarantine").collect():
        assert json.loads(fernet.decrypt(r.record_enc.encode()))  # every record still readable
    after = {t: read(spark, config, *t.split(".")).count() for t in before}
    assert after == before
    assert new.token_key == old.token_key  # tokens are join keys: not rotated
