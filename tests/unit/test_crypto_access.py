"""Decrypting needs the investigator role and a reason, and every attempt leaves an audit row."""

from __future__ import annotations

import argparse
from dataclasses import replace

import pytest

from aml.config import Config
from aml.crypto import cli
from aml.crypto.access import (
    AccessDenied,
    AccessPolicy,
    current_user,
    decrypt,
    load_policy,
)
from aml.crypto.keys import FERNET_ENV, TOKEN_ENV, init_key_file, load_keyring
from aml.crypto.pii import load_pii, protect

TABLE = "silver.transactions"
ROWS = [
    (101, "4470000001", "4470000002", 950.0),
    (102, "4470000003", "4470000001", 12.5),
    (103, "4470000004", "4470000005", 300.0),
]


@pytest.fixture(scope="module")
def env(lake_config: Config, tmp_path_factory: pytest.TempPathFactory, spark):
    """A private lake and key file with a small protected silver.transactions."""
    root = tmp_path_factory.mktemp("crypto_access")
    data = dict(lake_config.data)
    data["paths"] = {**data["paths"], "secrets": str(root / "secrets")}
    data["lake"] = {"root": str(root / "lake"), "checkpoints": str(root / "checkpoints")}
    config = replace(lake_config, data=data)
    init_key_file(config)
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv(FERNET_ENV, raising=False)
        mp.delenv(TOKEN_ENV, raising=False)
        keyring = load_keyring(config)
    spec = load_pii(config)[TABLE]
    df = spark.createDataFrame(
        ROWS, "transaction_id BIGINT, sender_account STRING, receiver_account STRING, amount DOUBLE"
    )
    df.transform(protect, spec, keyring).write.format("delta").save(spec.path(config))
    return config, keyring


@pytest.fixture(autouse=True)
def file_keys_only(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FERNET_ENV, raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)


def _audit(spark, config: Config, reason: str) -> list:
    path = config.table_path("ops", "decrypt_audit")
    return spark.read.format("delta").load(path).where(f"reason = '{reason}'").collect()


def test_policy_file_grants_decrypt_to_investigators_only(env) -> None:
    config, _ = env
    policy = load_policy(config)
    assert [r for r, may in policy.roles.items() if may] == ["investigator"]
    assert policy.may_decrypt("alice") and not policy.may_decrypt("bob")
    assert not policy.may_decrypt("nobody-listed")
    assert current_user({"AML_USER": "dora"}) == "dora"


def test_investigator_gets_clear_values_and_an_audit_row_with_ids_and_reason(spark, env) -> None:
    config, _ = env
    rows = decrypt(spark, config, TABLE, [101, "103"], None, "case 42", user="alice")
    assert sorted(rows, key=lambda r: r["transaction_id"]) == [
        {"transaction_id": "101", "sender_account": "4470000001", "receiver_account": "4470000002"},
        {"transaction_id": "103", "sender_account": "4470000004", "receiver_account": "4470000005"},
    ]
    (audit,) = _audit(spark, config, "case 42")
    assert (audit.user_name, audit.role, audit.table_name, audit.outcome) == (
        "alice",
        "investigator",
        TABLE,
        "GRANTED",
    )
    assert sorted(audit.row_keys) == ["101", "103"] and audit.row_count == 2
    assert audit.columns == ["sender_account", "receiver_account"]
    assert "4470000001" not in str(audit.asDict())  # ids, never values


def test_a_non_investigator_is_refused_audited_and_gets_nothing(spark, env) -> None:
    config, _ = env
    with pytest.raises(AccessDenied, match="bob.*analyst"):
        decrypt(spark, config, TABLE, [101], ["sender_account"], "case 43", user="bob")
    (audit,) = _audit(spark, config, "case 43")
    assert (audit.outcome, audit.role, audit.row_count) == ("DENIED", "analyst", 0)
    assert audit.row_keys is None and "4470000001" not in str(audit.asDict())


def test_a_decrypt_without_reason_is_refused_even_for_an_investigator(spark, env) -> None:
    config, _ = env
    policy = AccessPolicy({"investigator": True}, {"eve": "investigator"})
    with pytest.raises(AccessDenied, match="reason"):
        decrypt(spark, config, TABLE, "amount > 100", None, "  ", user="eve", policy=policy)
    (audit,) = _audit(spark, config, "  ")
    assert audit.outcome == "DENIED" and audit.request == "where: amount > 100"


def test_a_request_larger_than_max_rows_is_refused(spark, env) -> None:
    config, _ = env
    with pytest.raises(AccessDenied, match="more than 2 rows"):
        decrypt(spark, config, TABLE, "amount > 0", None, "case 44", "alice", max_rows=2)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", default=None)
    cli.register(parser.add_subparsers())
    return parser


def test_cli_decrypt_prints_rows_for_an_investigator_and_exits_3_otherwise(
    spark, env, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config, _ = env
    monkeypatch.setattr(cli, "load_config", lambda name: config)
    monkeypatch.setattr(cli, "_session", lambda cfg, app: spark)
    base = ["decrypt", "--table", TABLE, "--id", "102", "--reason", "case 45"]
    args = _parser().parse_args([*base, "--user", "bob"])
    assert args.func(args) == 3
    assert "decrypt refused" in capsys.readouterr().err
    monkeypatch.setenv("AML_USER", "alice")
    args = _parser().parse_args([*base, "--column", "sender_account"])
    assert args.func(args) == 0
    assert capsys.readouterr().out.strip() == (
        '{"transaction_id": "102", "sender_account": "4470000003"}'
    )
    assert [a.outcome for a in sorted(_audit(spark, config, "case 45"), key=lambda a: a.at)] == [
        "DENIED",
        "GRANTED",
    ]
