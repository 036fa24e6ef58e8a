"""Tokens equal Python HMAC; encrypted columns decrypt with plain Fernet; keys stay out of plans."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import os

import pytest
from cryptography.fernet import Fernet, InvalidToken

from aml.crypto.columns import (
    REDACTION_REGEX,
    decrypt_column,
    decrypt_values,
    redact,
    token,
    with_encrypted,
    with_tokenized,
)
from aml.crypto.keys import Keyring, generate_keyring, new_fernet_entry
from aml.crypto.pii import PiiTable, protect

VALUES = ["4470123456", "", "José Müller-Łukasiewicz", "名前 🙂", "a,b;'c\"", None]


@pytest.fixture(scope="module")
def keyring() -> Keyring:
    return generate_keyring("test")


def _hmac(key: bytes, value: str | None) -> str | None:
    return None if value is None else hmac.new(key, value.encode(), hashlib.sha256).hexdigest()


@pytest.mark.parametrize("key", [os.urandom(32), b"k", os.urandom(100)], ids=["32B", "1B", "100B"])
def test_token_equals_python_hmac_sha256_hex(spark, key: bytes) -> None:
    df = spark.createDataFrame([(v,) for v in VALUES], "value STRING")
    rows = df.select("value", token("value", key).alias("t")).collect()
    assert [(r.value, r.t) for r in rows] == [(v, _hmac(key, v)) for v in VALUES]


def test_token_of_a_number_is_the_hmac_of_its_string_form(spark) -> None:
    key = os.urandom(32)
    row = spark.sql("SELECT CAST(4470123456 AS BIGINT) AS n").select(token("n", key)).first()
    assert row[0] == _hmac(key, "4470123456")


def test_tokens_are_equal_for_equal_values_and_differ_across_keys(spark) -> None:
    k1, k2 = os.urandom(32), os.urandom(32)
    df = spark.createDataFrame([("x",), ("x",), ("y",)], "v STRING")
    rows = df.select(token("v", k1).alias("a"), token("v", k2).alias("b")).collect()
    assert rows[0].a == rows[1].a != rows[2].a
    assert all(r.a != r.b for r in rows)


def test_with_encrypted_replaces_columns_by_fernet_tokens_in_place(spark, keyring) -> None:
    rows = [
        (1, "4470123456", dt.date(1980, 2, 29), 250),
        (2, "4470123456", None, 7),
        (3, None, dt.date(2001, 12, 31), None),
        (4, "ÿ unicode ✓", dt.date(1999, 1, 1), 0),
    ]
    df = spark.createDataFrame(rows, "id INT, account STRING, dob DATE, score INT")
    out_df = with_encrypted(df, ["account", "dob", "score"], keyring)
    assert out_df.columns == ["id", "account_enc", "dob_enc", "score_enc"]
    assert {f.dataType.simpleString() for f in out_df.schema.fields[1:]} == {"string"}
    fernet = Fernet(keyring.fernet_key_bytes[0])  # plain cryptography, no helper of ours
    got = [
        (r.id, *(None if t is None else fernet.decrypt(t).decode() for t in r[1:]))
        for r in out_df.orderBy("id").collect()
    ]
    assert got == [
        (1, "4470123456", "1980-02-29", "250"),
        (2, "4470123456", None, "7"),
        (3, None, "2001-12-31", None),
        (4, "ÿ unicode ✓", "1999-01-01", "0"),
    ]


def test_with_encrypted_uses_the_newest_key(spark, keyring) -> None:
    newer = Keyring((new_fernet_entry(), *keyring.fernet_keys), keyring.token_entry, "test")
    df = spark.createDataFrame([("v",)], "c STRING")
    value = with_encrypted(df, ["c"], newer).first().c_enc
    assert Fernet(newer.fernet_key_bytes[0]).decrypt(value) == b"v"
    with pytest.raises(InvalidToken):
        Fernet(keyring.fernet_key_bytes[0]).decrypt(value)


def test_decrypt_column_and_values_read_tokens_of_any_key_and_keep_nulls(spark, keyring) -> None:
    older = Fernet(keyring.fernet_key_bytes[0]).encrypt(b"old").decode()
    newer = Keyring((new_fernet_entry(), *keyring.fernet_keys), keyring.token_entry, "test")
    current = newer.primary().encrypt("nëw".encode()).decode()
    df = spark.createDataFrame([(older,), (current,), (None,)], "c_enc STRING")
    assert [r[0] for r in df.select(decrypt_column("c_enc", newer)).collect()] == [
        "old",
        "nëw",
        None,
    ]
    assert decrypt_values([older, None, current], newer) == ["old", None, "nëw"]
    with pytest.raises(InvalidToken, match="not decryptable"):
        decrypt_values([current], keyring)  # the key that made it is unknown there


def test_protect_tokenizes_then_encrypts_as_declared(spark, keyring) -> None:
    spec = PiiTable("silver.t", "silver", "t", "id", ("acct",), ("acct", "name"))
    df = spark.createDataFrame(
        [(1, "123", "Ann"), (2, None, None)], "id INT, acct STRING, name STRING"
    )
    out = df.transform(protect, spec, keyring)
    assert out.columns == ["id", "acct_enc", "name_enc", "acct_token"]
    rows = out.orderBy("id").collect()
    assert rows[0].acct_token == _hmac(keyring.token_key, "123")
    assert rows[1].acct_token is None and rows[1].acct_enc is None
    assert keyring.primary().decrypt(rows[0].name_enc) == b"Ann"
    kept = with_tokenized(df, ["acct"], keyring.token_key)
    assert kept.columns == ["id", "acct", "name", "acct_token"]


def test_fernet_keys_never_appear_in_plans_or_confs(spark, keyring) -> None:
    df = with_encrypted(spark.createDataFrame([("v",)], "c STRING"), ["c"], keyring)
    plan = df._jdf.queryExecution().toString()
    confs = str(spark.sparkContext.getConf().getAll()) + str(spark.conf.getAll)
    for key in keyring.fernet_key_bytes:
        assert key.decode() not in plan and key.decode() not in confs


def test_token_pads_are_redacted_from_plans_and_error_text(spark) -> None:
    key = os.urandom(32)
    df = spark.createDataFrame([("v",)], "c STRING").select(token("c", key).alias("t"))
    pad_hex = bytes(b ^ 0x36 for b in key.ljust(64, b"\0")).hex().upper()
    configured = spark.conf.get("spark.sql.redaction.string.regex", None)
    assert configured == REDACTION_REGEX  # spark-conf/spark-defaults.conf sets it
    spark.conf.unset("spark.sql.redaction.string.regex")
    try:
        assert pad_hex in df._jdf.queryExecution().toString()  # why the setting matters
        spark.conf.set("spark.sql.redaction.string.regex", REDACTION_REGEX)
        assert pad_hex not in df._jdf.queryExecution().toString()
    finally:
        spark.conf.set("spark.sql.redaction.string.regex", configured)
    assert pad_hex not in redact(f"AnalysisException: concat(0x{pad_hex}, c#1)")
