"""Column functions and transforms of silver conforming, each with a null row and edge values."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from chispa import assert_column_equality, assert_df_equality
from pyspark.sql import functions as F

from aml import reference
from aml.silver import conform
from aml.silver.checks import load_checks, split_by_checks


@pytest.fixture(scope="module")
def ref(base_config):
    return reference.load(base_config, dt.date(2026, 11, 1))


def test_parse_date_accepts_only_real_iso_dates(spark):
    df = spark.createDataFrame(
        [
            ("2023-02-28", dt.date(2023, 2, 28)),
            ("2024-02-29", dt.date(2024, 2, 29)),
            ("2023-02-29", None),
            ("2023-13-01", None),
            ("23-01-01", None),
            ("2023-1-01", None),
            ("2023-01-01 ", None),
            (None, None),
        ],
        "raw STRING, expected DATE",
    ).withColumn("actual", conform.parse_date(F.col("raw")))
    assert_column_equality(df, "actual", "expected")


def test_parse_event_ts_is_utc_to_the_second_and_rejects_bad_times(spark):
    df = spark.createDataFrame(
        [
            ("2022-10-07", "00:00:00", dt.datetime(2022, 10, 7, 0, 0, 0)),
            ("2022-10-07", "23:59:59", dt.datetime(2022, 10, 7, 23, 59, 59)),
            ("2022-10-07", "24:00:00", None),
            ("2022-10-07", "12:60:00", None),
            ("2022-10-07", "1:02:03", None),
            ("2022-02-30", "10:00:00", None),
            (None, "10:00:00", None),
            ("2022-10-07", None, None),
        ],
        "d STRING, t STRING, expected TIMESTAMP",
    ).withColumn("actual", conform.parse_event_ts(F.col("d"), F.col("t")))
    assert_column_equality(df, "actual", "expected")


def test_parse_amount_never_rounds(spark):
    df = spark.createDataFrame(
        [
            ("3.73", Decimal("3.73")),
            ("12600000.00", Decimal("12600000.00")),
            ("10000", Decimal("10000.00")),
            ("0.5", Decimal("0.50")),
            ("-5.00", Decimal("-5.00")),
            ("1.005", None),
            ("1e5", None),
            ("abc", None),
            ("", None),
            (None, None),
        ],
        "raw STRING, expected DECIMAL(14,2)",
    ).withColumn("actual", conform.parse_amount(F.col("raw")))
    assert_column_equality(df, "actual", "expected")


def test_lookup_maps_known_names_and_gives_null_otherwise(spark, ref):
    df = spark.createDataFrame(
        [
            ("UK pounds", "GBP"),
            ("Mexican Peso", "MXN"),
            ("Naira", "NGN"),
            ("uk pounds", None),
            ("Bitcoin", None),
            (None, None),
        ],
        "raw STRING, expected STRING",
    ).withColumn("actual", conform.lookup(F.col("raw"), ref.currencies))
    assert_column_equality(df, "actual", "expected")


def test_enrichment_flags_cross_border_and_high_risk_jurisdictions(spark, ref):
    df = spark.createDataFrame(
        [("GB", "GB"), ("GB", "MX"), ("AE", "TR"), ("KP", "GB"), ("GB", None)],
        "sender_country_iso STRING, receiver_country_iso STRING",
    )
    out = conform.with_enrichment(df, ref).select(
        "is_cross_border",
        "sender_high_risk_status",
        "receiver_high_risk_status",
        "is_high_risk_jurisdiction",
        "is_fatf_blacklisted",
    )
    expected = spark.createDataFrame(
        [
            (False, None, None, False, False),
            (True, None, "SAML_D_HIGH_RISK", True, False),
            (True, "SAML_D_HIGH_RISK", "SAML_D_HIGH_RISK", True, False),
            (True, "BLACKLIST", None, True, True),
            (None, None, None, False, False),
        ],
        "is_cross_border BOOLEAN, sender_high_risk_status STRING, receiver_high_risk_status "
        "STRING, is_high_risk_jurisdiction BOOLEAN, is_fatf_blacklisted BOOLEAN",
    )
    assert_df_equality(out, expected, ignore_nullable=True)


def _raw(spark, rows):
    fields = ", ".join(f"{c} STRING" for c in conform.RAW_FIELDS)
    return spark.createDataFrame(rows, f"{fields}, updated_at TIMESTAMP")


GOOD = (
    "1",
    "10:00:00",
    "2022-10-07",
    "1000000001",
    "2000000002",
    "9000.00",
    "UK pounds",
    "UK pounds",
    "UK",
    "UK",
    "ACH",
    "0",
    "Normal_Fan_Out",
)
T0 = dt.datetime(2022, 10, 8)
T1 = dt.datetime(2022, 10, 9)


def test_latest_update_wins_and_same_time_conflicts_are_flagged(spark):
    newer = ("1", *GOOD[1:5], "9500.00", *GOOD[6:])
    twin_a = ("2", *GOOD[1:])
    twin_b = ("2", *GOOD[1:5], "1.00", *GOOD[6:])
    same_twice = ("3", *GOOD[1:])
    rows = [
        (*GOOD, T0),
        (*newer, T1),
        (*twin_a, T0),
        (*twin_b, T0),
        (*same_twice, T0),
        (*same_twice, T0),
        (None, *GOOD[1:], T0),
        (None, *GOOD[1:], T0),
    ]
    out = conform.with_duplicates_resolved(_raw(spark, rows))
    got = sorted(
        (r.transaction_id or "-", r.amount, r.is_duplicate_conflict) for r in out.collect()
    )
    assert got == [
        ("-", "9000.00", False),
        ("-", "9000.00", False),
        ("1", "9500.00", False),
        ("2", "1.00", True),
        ("3", "9000.00", False),
    ]


def test_split_sends_each_row_to_exactly_one_side_with_its_reasons(spark, base_config, ref):
    suite = load_checks(base_config, "transactions")
    bad_amount = ("5", *GOOD[1:5], "-1.00", *GOOD[6:])
    self_transfer = ("6", *GOOD[1:3], "1000000001", "1000000001", *GOOD[5:])
    mismatch = ("7", *GOOD[1:11], "1", "Normal_Fan_Out")
    rows = [(*GOOD, T0), (*bad_amount, T0), (*self_transfer, T0), (*mismatch, T0)]
    parsed = conform.with_parsed(
        _raw(spark, rows), ref, suite.max_field_length, dt.datetime(2026, 1, 1)
    ).withColumn("is_duplicate_conflict", F.lit(False))
    good, bad = split_by_checks(parsed, suite)
    assert sorted((r.transaction_id, r.warnings) for r in good.collect()) == [
        ("1", []),
        ("7", ["LABEL_MISMATCH"]),
    ]
    assert sorted((r.transaction_id, r.reason_code) for r in bad.collect()) == [
        ("5", "NON_POSITIVE_AMOUNT"),
        ("6", "SELF_TRANSFER"),
    ]


def test_text_fields_keep_values_exactly_and_nulls_as_null(spark):
    typed = spark.createDataFrame(
        [
            (7, dt.date(2022, 10, 7), "10:00:00", 8724731955, Decimal("3.73"), 0, "x"),
            (None, None, None, None, None, None, None),
        ],
        "transaction_id BIGINT, date DATE, time STRING, sender_account BIGINT, "
        "amount DECIMAL(14,2), is_laundering SMALLINT, _source STRING",
    )
    for name in conform.SAML_D_FIELDS:
        if name not in typed.columns:
            typed = typed.withColumn(name, F.lit("v"))
    out = conform.with_text_fields(typed).collect()
    assert (
        out[0].transaction_id,
        out[0].date,
        out[0].sender_account,
        out[0].amount,
        out[0].is_laundering,
        out[0]._source,
    ) == ("7", "2022-10-07", "8724731955", "3.73", "0", "x")
    assert (out[1].transaction_id, out[1].date, out[1].amount) == (None, None, None)


def test_any_longer_than_flags_a_single_long_field(spark):
    df = spark.createDataFrame(
        [("abc", "de", False), ("abcdef", "de", True), (None, "abcdef", True), (None, None, False)],
        "a STRING, b STRING, expected BOOLEAN",
    ).withColumn("actual", conform.any_longer_than(["a", "b"], 5))
    assert_column_equality(df, "actual", "expected")


def test_party_attributes_come_through_the_account_token(spark):
    from aml.silver.transactions import with_party_attributes

    tx = spark.createDataFrame(
        [(1, "tokA", "tokB"), (2, "tokB", "tokX"), (3, None, "tokA")],
        "transaction_id INT, sender_account_token STRING, receiver_account_token STRING",
    )
    accounts = spark.createDataFrame(
        [("tokA", 10), ("tokB", 20), ("tokC", None)], "account_number_token STRING, customer_id INT"
    )
    customers = spark.createDataFrame(
        [(10, "HIGH", True), (20, "LOW", False)],
        "customer_id INT, risk_rating STRING, is_pep BOOLEAN",
    )
    out = with_party_attributes(tx, accounts, customers).select(
        "transaction_id",
        "sender_customer_risk_rating",
        "sender_is_pep",
        "receiver_customer_risk_rating",
        "receiver_is_pep",
    )
    expected = spark.createDataFrame(
        [
            (1, "HIGH", True, "LOW", False),
            (2, "LOW", False, None, None),
            (3, None, None, "HIGH", True),
        ],
        "transaction_id INT, sender_customer_risk_rating STRING, sender_is_pep BOOLEAN, "
        "receiver_customer_risk_rating STRING, receiver_is_pep BOOLEAN",
    )
    assert_df_equality(out, expected, ignore_row_order=True, ignore_nullable=True)
    # with no party tables yet (first run), the columns exist and are null
    bare = with_party_attributes(tx, None, None).select("sender_is_pep").distinct().collect()
    assert [r.sender_is_pep for r in bare] == [None]


def test_party_builders_keep_the_latest_version_and_protect_personal_fields(
    spark, ref, base_config
):
    from cryptography.fernet import Fernet

    from aml.crypto.keys import keyring_from_environment
    from aml.silver import parties
    from aml.silver.transactions import SilverContext

    key = Fernet.generate_key()
    keyring = keyring_from_environment(
        {"AML_FERNET_KEYS": key.decode(), "AML_TOKEN_KEY": Fernet.generate_key().decode()}
    )
    ctx = SilverContext(
        ref=ref,
        suite=load_checks(base_config),
        keyring=keyring,
        processed_at=dt.datetime(2026, 1, 1),
    )
    customers = spark.createDataFrame(
        [
            (1, "Ann Lee", dt.date(1980, 1, 2), "GB", "LOW", False, T0, 0),
            (1, "Ann Lee", dt.date(1980, 1, 2), "GB", "HIGH", True, T1, 1),
            (2, None, None, None, None, False, T0, 0),
        ],
        "customer_id BIGINT, full_name STRING, date_of_birth DATE, country STRING, "
        "risk_rating STRING, is_pep BOOLEAN, updated_at TIMESTAMP, _commit_version BIGINT",
    )
    out = {r.customer_id: r for r in parties.build_customers(customers, ctx).collect()}
    assert (out[1].risk_rating, out[1].is_pep) == ("HIGH", True)
    assert Fernet(key).decrypt(out[1].full_name_enc.encode()) == b"Ann Lee"
    assert Fernet(key).decrypt(out[1].date_of_birth_enc.encode()) == b"1980-01-02"
    assert out[2].full_name_enc is None and out[2].date_of_birth_enc is None
    accounts = spark.createDataFrame(
        [
            (8724731955, 1, "UK", dt.date(2020, 1, 1), T0, 0),
            (2769355426, 2, "Atlantis", None, T0, 0),
        ],
        "account_number BIGINT, customer_id BIGINT, bank_location STRING, opened_date DATE, "
        "updated_at TIMESTAMP, _commit_version BIGINT",
    )
    acc = {r.customer_id: r for r in parties.build_accounts(accounts, ctx).collect()}
    assert acc[1].country_iso == "GB" and acc[2].country_iso is None
    assert Fernet(key).decrypt(acc[1].account_number_enc.encode()) == b"8724731955"
    assert len(acc[1].account_number_token) == 64
    assert "account_number" not in parties.build_accounts(accounts, ctx).columns
