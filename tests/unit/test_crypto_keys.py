"""Keyring sources, key-file safety, secrecy of key material, and crash-safe rotation."""

from __future__ import annotations

import argparse
import base64
import logging
import os
import stat
from dataclasses import replace
from pathlib import Path

import pytest
from cryptography.fernet import Fernet, InvalidToken

from aml.config import Config
from aml.crypto import cli
from aml.crypto.keys import (
    FERNET_ENV,
    TOKEN_ENV,
    KeyringError,
    generate_keyring,
    init_key_file,
    key_file_path,
    load_keyring,
    read_key_file,
)
from aml.crypto.pii import PiiTable
from aml.crypto.rotate import begin_rotation, rewrite_tables, rotate


def _config(base: Config, root: Path) -> Config:
    data = dict(base.data)
    data["paths"] = {**data["paths"], "secrets": str(root / "secrets")}
    data["lake"] = {"root": str(root / "lake"), "checkpoints": str(root / "checkpoints")}
    return replace(base, data=data)


@pytest.fixture()
def config(lake_config: Config, tmp_path: Path) -> Config:
    return _config(lake_config, tmp_path)


@pytest.fixture(autouse=True)
def no_environment_keys(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(FERNET_ENV, raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_init_writes_an_owner_only_key_file_in_an_owner_only_folder(config: Config) -> None:
    path = init_key_file(config)
    assert path == config.secrets_dir / "keyring.json"
    assert _mode(path) == 0o600
    assert _mode(path.parent) == 0o700
    keyring = load_keyring(config)
    assert len(keyring.fernet_keys) == 1 and len(keyring.token_key) == 32


def test_init_refuses_to_overwrite_keys_without_force(config: Config) -> None:
    init_key_file(config)
    first = load_keyring(config)
    with pytest.raises(KeyringError, match="--force"):
        init_key_file(config)
    assert load_keyring(config).fernet_keys == first.fernet_keys
    init_key_file(config, force=True)
    assert load_keyring(config).fernet_keys != first.fernet_keys


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o620])
def test_key_file_readable_by_group_or_others_is_refused(config: Config, mode: int) -> None:
    path = init_key_file(config)
    os.chmod(path, mode)
    with pytest.raises(KeyringError, match=rf"permissions {mode:04o} .* too open.*chmod 600"):
        load_keyring(config)


def test_environment_keys_take_precedence_over_the_key_file(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_key_file(config)
    new, old = Fernet.generate_key(), Fernet.generate_key()
    token_key = base64.urlsafe_b64encode(os.urandom(32))
    monkeypatch.setenv(FERNET_ENV, f"{new.decode()}, {old.decode()}")
    monkeypatch.setenv(TOKEN_ENV, token_key.decode())
    keyring = load_keyring(config)
    assert keyring.source == "environment"
    assert keyring.fernet_key_bytes == (new, old)
    assert keyring.token_key == base64.urlsafe_b64decode(token_key)


def test_half_a_keyring_in_the_environment_is_an_error(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    init_key_file(config)
    monkeypatch.setenv(FERNET_ENV, Fernet.generate_key().decode())
    with pytest.raises(KeyringError, match=TOKEN_ENV):
        load_keyring(config)


def test_a_malformed_key_is_reported_without_echoing_it(
    config: Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(FERNET_ENV, "not-a-real-key-SECRETISH")
    monkeypatch.setenv(TOKEN_ENV, base64.urlsafe_b64encode(os.urandom(32)).decode())
    with pytest.raises(KeyringError) as info:
        load_keyring(config)
    assert "SECRETISH" not in str(info.value)


def test_key_material_never_reaches_reprs_logs_or_output(
    config: Config,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)
    monkeypatch.setattr(cli, "load_config", lambda env: config)
    args = argparse.Namespace(env=None, force=False)
    assert cli.keys_init(args) == 0
    assert cli.keys_status(args) == 0
    keyring = begin_rotation(key_file_path(config))  # a second key, and a rotation mark
    out = capsys.readouterr()
    shown = " ".join(
        [caplog.text, out.out, out.err, repr(keyring), str(keyring), repr(keyring.fernet_keys)]
        + cli.describe(keyring)
    )
    secrets = [e.key for e in keyring.fernet_keys] + [keyring.token_entry.key]
    for key in secrets:
        raw = base64.urlsafe_b64decode(key)
        for form in (key.decode(), raw.hex(), raw.hex().upper(), repr(raw)):
            assert form not in shown
    assert keyring.fernet_keys[0].id in shown  # ids are what identifies keys instead


def test_a_rerun_after_a_crash_right_after_begin_reuses_the_pending_key(config: Config) -> None:
    path = init_key_file(config)
    first = begin_rotation(path)
    again = begin_rotation(path)
    assert again.fernet_key_bytes == first.fernet_key_bytes
    assert len(again.fernet_keys) == 2 and again.rotation is not None


# --- rotation of Delta tables ----------------------------------------------------------------

T1 = PiiTable("silver.people", "silver", "people", "id", ("account",), ("name", "account"))
T2 = PiiTable("silver.cards", "silver", "cards", "id", (), ("card",))
MISSING = PiiTable("silver.later", "silver", "later", "id", (), ("x",))


def _write(spark, config: Config, spec: PiiTable, keyring, ids: range, mode: str = "overwrite"):
    from aml.crypto.columns import with_encrypted

    df = spark.createDataFrame(_expected(spec, ids), ["id", *spec.encrypt, "amount"])
    with_encrypted(df, list(spec.encrypt), keyring).write.format("delta").mode(mode).save(
        spec.path(config)
    )


def _clear(spark, config: Config, spec: PiiTable, key: bytes) -> list[tuple]:
    """Every row, its _enc columns decrypted with ``key`` alone (raises if one cannot be)."""
    fernet = Fernet(key)
    rows = spark.read.format("delta").load(spec.path(config)).orderBy("id").collect()
    return [
        (
            r["id"],
            *(None if r[c] is None else fernet.decrypt(r[c]).decode() for c in spec.enc_columns),
            r["amount"],
        )
        for r in rows
    ]


def _expected(spec: PiiTable, ids: range) -> list[tuple]:
    return [(i, *(f"{c}-{i}" if i % 4 else None for c in spec.encrypt), i * 10) for i in ids]


def test_rotate_interrupted_before_retiring_loses_nothing_and_a_rerun_finishes(
    spark, config: Config, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="aml.crypto")
    path = init_key_file(config)
    old = load_keyring(config)
    tables = {t.table: t for t in (T1, T2, MISSING)}
    for spec in (T1, T2):
        _write(spark, config, spec, old, range(1, 7))
    pending = begin_rotation(path)
    rewrite_tables(spark, config, path, pending, tables)
    # The process dies here, before the old key is retired. Meanwhile a job still holding the
    # new keyring appends to one table, and one still holding the old keyring to the other.
    on_disk = read_key_file(path)
    assert on_disk.fernet_key_bytes == pending.fernet_key_bytes  # old key still there
    assert set(on_disk.rotation.done) == {"silver.people", "silver.cards"}
    _write(spark, config, T1, pending, range(7, 9), mode="append")
    _write(spark, config, T2, old, range(7, 9), mode="append")
    for spec in (T1, T2):  # nothing lost: all readable with the keys on disk
        multi = on_disk.multifernet()
        rows = spark.read.format("delta").load(spec.path(config)).collect()
        assert all(r[c] is None or multi.decrypt(r[c]) for r in rows for c in spec.enc_columns)

    report = rotate(spark, config, tables=tables)  # the rerun

    final = read_key_file(path)
    assert report.new_key_id == pending.rotation.new_key_id == final.fernet_keys[0].id
    assert len(final.fernet_keys) == 1 and final.rotation is None
    # silver.people gained only new-key values (accepted from its change feed, no rewrite);
    # silver.cards gained old-key values, so it was rewritten.
    assert report.rows_rewritten == {"silver.cards": 8}
    assert report.retired_key_ids == [old.fernet_keys[0].id]
    assert final.token_entry == old.token_entry  # tokens are join keys: never rotated
    new_key = final.fernet_key_bytes[0]
    for spec in (T1, T2):  # the same rows, all readable with the new key alone
        assert _clear(spark, config, spec, new_key) == _expected(spec, range(1, 9))
    with pytest.raises(InvalidToken):
        _clear(spark, config, T2, old.fernet_key_bytes[0])
    assert report.skipped == ["silver.later"]
    assert "silver.later: no table at" in caplog.text


def test_rotate_with_environment_keys_needs_keys_out(
    spark, config: Config, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    env_keyring = generate_keyring("environment")
    monkeypatch.setenv(FERNET_ENV, env_keyring.fernet_key_bytes[0].decode())
    monkeypatch.setenv(TOKEN_ENV, env_keyring.token_entry.key.decode())
    _write(spark, config, T2, env_keyring, range(1, 5))
    tables = {T2.table: T2}
    with pytest.raises(KeyringError, match="environment.*--keys-out"):
        rotate(spark, config, tables=tables)
    out = tmp_path / "rotated.json"
    report = rotate(spark, config, keys_out=out, tables=tables)  # one call, start to finish
    rotated = read_key_file(out)
    assert _mode(out) == 0o600
    assert len(rotated.fernet_keys) == 1 and rotated.token_key == env_keyring.token_key
    assert report.rows_rewritten == {T2.table: 4}
    assert _clear(spark, config, T2, rotated.fernet_key_bytes[0]) == _expected(T2, range(1, 5))
