"""The allow-list: what the loader refuses, what an entry covers, Spark agreeing with the plain
Python semantics row by row, the fingerprint that triggers a rebuild, and ``aml suppressions``.

Subject tokens here are SHA-256 digests of labels (``_tok("payroll")``): 64-hex like real tokens,
but of no account. The one account-shaped value (:data:`ACCOUNT`) is synthetic.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import io
import json
import logging
import os
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from tests.integration.keys import ephemeral_keys

from aml import cli
from aml.config import ConfigError, load_config
from aml.crypto.columns import token
from aml.crypto.keys import FERNET_ENV, TOKEN_ENV, load_keyring
from aml.gold import suppressions_cli
from aml.gold.suppressions import AllowList, Suppression, parse

ACCOUNT = "1000000001"  # synthetic: account-shaped, belongs to nobody
EXAMPLE = Path(__file__).resolve().parents[2] / "conf" / "suppressions.example.toml"
HITS_SCHEMA = "hit_id STRING, rule_id STRING, subject_token STRING, event_ts TIMESTAMP, n INT"


def _tok(label: str) -> str:
    return hashlib.sha256(label.encode()).hexdigest()


A, B = _tok("subject-a"), _tok("subject-b")


def _raw(**changes: Any) -> dict[str, Any]:
    """One valid ``[[suppression]]`` table as tomllib returns it, with ``changes`` applied."""
    entry: dict[str, Any] = {
        "id": "S001",
        "subject_token": A,
        "rules": ["R13"],
        "owner": "payments-operations",
        "reason": "verified payroll fan-out",
        "valid_from": dt.date(2024, 1, 10),
        "expires": dt.date(2024, 1, 20),
    }
    entry.update(changes)
    return entry


def _entry(**changes: Any) -> Suppression:
    return parse({"suppression": [_raw(**changes)]}).entries[0]


def _ts(day: int, hour: int = 12, minute: int = 0, second: int = 0) -> dt.datetime:
    return dt.datetime(2024, 1, day, hour, minute, second, tzinfo=dt.UTC)


# --- parse -------------------------------------------------------------------------------------


def test_a_valid_document_parses_into_entries() -> None:
    entry = _entry(rules=["R13", "R14"])
    assert entry == Suppression(
        "S001",
        A,
        ("R13", "R14"),
        "payments-operations",
        "verified payroll fan-out",
        dt.date(2024, 1, 10),
        dt.date(2024, 1, 20),
    )
    assert parse({}) == AllowList()


def _without(key: str) -> dict[str, Any]:
    raw = _raw()
    del raw[key]
    return raw


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        ([_without("owner")], r"lacks \['owner'\]"),
        ([_without("expires")], r"lacks \['expires'\]"),
        ([_raw(subject_token=ACCOUNT)], "must be a 64-hex account token"),
        ([_raw(subject_token=A.upper())], "must be a 64-hex account token"),
        ([_raw(expires=dt.date(2024, 1, 9))], "expires before valid_from"),
        ([_raw(valid_from="2024-01-10")], "valid_from must be a date"),
        ([_raw(), _raw(subject_token=B)], "duplicate suppression ids"),
        ([_raw(owner="  ")], "owner must not be empty"),
        ([_raw(reason="")], "reason must not be empty"),
    ],
    ids=[
        "missing-owner",
        "missing-expires",
        "account-number-token",
        "uppercase-token",
        "expires-before-valid-from",
        "date-as-text",
        "duplicate-ids",
        "empty-owner",
        "empty-reason",
    ],
)
def test_parse_refuses(entries: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        parse({"suppression": entries}, "conf/suppressions.toml")
    assert "conf/suppressions.toml" in str(caught.value)
    assert ACCOUNT not in str(caught.value), "an error message echoed the account-shaped value"


def test_a_one_day_entry_is_valid() -> None:
    day = dt.date(2024, 1, 10)
    assert _entry(valid_from=day, expires=day).covers("R13", A, day)


# --- covers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rules", "rule_id", "subject", "day", "expected"),
    [
        (["R13"], "R13", A, 10, True),  # valid_from is inclusive
        (["R13"], "R13", A, 20, True),  # expires is inclusive
        (["R13"], "R13", A, 15, True),
        (["R13"], "R13", A, 9, False),  # the day before valid_from
        (["R13"], "R13", A, 21, False),  # the day after expires
        (["R13"], "R14", A, 15, False),  # a rule the entry does not name
        (["*"], "R14", A, 15, True),  # "*" covers every rule
        (["*"], "R14", A, 21, False),  # ... but only within its dates
        (["R13", "R14"], "R14", A, 15, True),
        (["R13"], "R13", B, 15, False),  # another subject
        (["*"], "R13", B, 15, False),
    ],
)
def test_covers(rules: list[str], rule_id: str, subject: str, day: int, expected: bool) -> None:
    assert _entry(rules=rules).covers(rule_id, subject, dt.date(2024, 1, day)) is expected


# --- apply -------------------------------------------------------------------------------------

ENTRIES = (
    # S002 and S001 overlap on subject A, R13, 15 to 20 January: S001 must win there
    _entry(id="S002", rules=["R13"]),
    _entry(id="S001", rules=["*"], valid_from=dt.date(2024, 1, 15), expires=dt.date(2024, 1, 25)),
    _entry(id="S003", subject_token=B, rules=["R14"], expires=dt.date(2024, 1, 10)),
)

HITS = [
    ("h01", "R13", A, _ts(10, 0, 0, 0)),  # first second of S002's valid_from
    ("h02", "R13", A, _ts(9, 23, 59, 59)),  # last second before it
    ("h03", "R13", A, _ts(14)),  # S002 only
    ("h04", "R13", A, _ts(15)),  # S002 and S001: S001
    ("h05", "R14", A, _ts(15)),  # S001 only ("*")
    ("h06", "R13", A, _ts(20, 23, 59, 59)),  # last second of S002's expires, and S001
    ("h07", "R14", A, _ts(25, 23, 59, 59)),  # last second of S001
    ("h08", "R14", A, _ts(26, 0, 0, 0)),  # the day after S001 expires
    ("h09", "R14", B, _ts(10)),  # S003 on its one day
    ("h10", "R13", B, _ts(10)),  # B, a rule S003 does not name
    ("h11", "R14", B, _ts(11)),  # B, the day after
    ("h12", "R13", _tok("subject-c"), _ts(15)),  # a subject nobody listed
    ("h13", "R13", A, None),  # no event time: never suppressed
    ("h14", "R13", None, _ts(15)),  # no subject: never suppressed
    ("h15", "R14", None, None),
]


def _expected(
    entries: tuple[Suppression, ...], rule_id: str, subject: str | None, ts: Any
) -> str | None:
    """The lowest id of the entries that cover the hit, by the plain Python semantics."""
    if subject is None or ts is None:
        return None
    ids = [e.id for e in entries if e.covers(rule_id, subject, ts.astimezone(dt.UTC).date())]
    return min(ids, default=None)


def test_apply_agrees_with_covers_row_by_row(spark) -> None:
    hits_df = spark.createDataFrame(
        [(*hit, i) for i, hit in enumerate(HITS)], HITS_SCHEMA
    )  # n: a column apply must carry through untouched

    result_df = AllowList(ENTRIES).apply(hits_df)

    assert set(result_df.columns) == {*hits_df.columns, "is_suppressed", "suppression_id"}
    got = {
        row["hit_id"]: (row["is_suppressed"], row["suppression_id"], row["n"])
        for row in result_df.collect()
    }
    assert len(got) == len(HITS), "apply must keep every hit, suppressed or not"
    for i, (hit_id, rule_id, subject, ts) in enumerate(HITS):
        want = _expected(ENTRIES, rule_id, subject, ts)
        assert got[hit_id] == (want is not None, want, i), hit_id


def test_the_boundary_rows_are_the_ones_meant() -> None:
    """Guards the table above: a fixture edit must not quietly drop the edges it exists for."""
    outcome = {hit[0]: _expected(ENTRIES, *hit[1:]) for hit in HITS}
    assert outcome == {
        "h01": "S002", "h02": None, "h03": "S002", "h04": "S001", "h05": "S001",
        "h06": "S001", "h07": "S001", "h08": None, "h09": "S003", "h10": None,
        "h11": None, "h12": None, "h13": None, "h14": None, "h15": None,
    }  # fmt: skip


def test_lowest_id_wins_whatever_the_order_of_the_entries(spark) -> None:
    first, second = _entry(id="S-b"), _entry(id="S-a", rules=["*"])
    hits_df = spark.createDataFrame([("h1", "R13", A, _ts(12), 0)], HITS_SCHEMA)
    for entries in ((first, second), (second, first)):
        row = AllowList(entries).apply(hits_df).collect()[0]
        assert (row["is_suppressed"], row["suppression_id"]) == (True, "S-a")


def test_an_empty_list_flags_nothing(spark) -> None:
    hits_df = spark.createDataFrame([("h1", "R13", A, _ts(12), 0)], HITS_SCHEMA)
    rows = AllowList().apply(hits_df).collect()
    assert [(r["is_suppressed"], r["suppression_id"]) for r in rows] == [(False, None)]


# --- fingerprint -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        {"id": "S009"},
        {"subject_token": B},
        {"rules": ["R13", "R14"]},
        {"rules": ["*"]},
        {"valid_from": dt.date(2024, 1, 11)},
        {"expires": dt.date(2024, 1, 21)},
    ],
    ids=lambda change: next(iter(change)),
)
def test_fingerprint_changes_when_what_an_entry_suppresses_changes(change: dict[str, Any]) -> None:
    before = AllowList((_entry(), _entry(id="S002", subject_token=B)))
    after = AllowList((_entry(**change), _entry(id="S002", subject_token=B)))
    assert before.fingerprint() != after.fingerprint()


def test_fingerprint_ignores_order_and_the_words_around_an_entry() -> None:
    """Entry order, owner and reason change no hit's flag, so they must not force a rebuild."""
    one, two = _entry(), _entry(id="S002", subject_token=B)
    base = AllowList((one, two)).fingerprint()
    assert AllowList((two, one)).fingerprint() == base
    assert AllowList((one, replace(two, rules=two.rules[::-1]))).fingerprint() == base
    reworded = replace(one, owner="another team", reason="re-verified")
    assert AllowList((reworded, two)).fingerprint() == base
    assert AllowList().fingerprint() != base
    assert AllowList((one,)).fingerprint() != base


def test_the_example_file_parses() -> None:
    import tomllib

    with EXAMPLE.open("rb") as fh:
        example = parse(tomllib.load(fh), str(EXAMPLE))
    (entry,) = example.entries
    assert entry.rules == ("R13",)
    assert entry.subject_token == suppressions_cli.PLACEHOLDER_TOKEN


# --- the aml suppressions command --------------------------------------------------------------


@pytest.fixture()
def allow_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Where the local environment's allow-list is, for this test (not yet written); its key
    file folder is empty too, so no test can read the developer's own keys."""
    file = tmp_path / "suppressions.toml"
    config = (
        load_config("local")
        .with_settings("gold", suppressions=str(file))
        .with_settings("paths", secrets=str(tmp_path / "secrets"))
    )
    monkeypatch.setenv("AML_OVERRIDES", str(config.write_overrides(tmp_path / "overrides.toml")))
    return file


def _write(file: Path, *entries: dict[str, Any], extra: str = "") -> None:
    """Writes entries as TOML the way an analyst would (dates as TOML dates)."""
    lines = [extra]
    for raw in entries:
        lines.append("[[suppression]]")
        for key, value in raw.items():
            if isinstance(value, dt.date):
                lines.append(f"{key} = {value.isoformat()}")
            else:  # a JSON string or array of strings is a TOML basic string or array
                lines.append(f"{key} = {json.dumps(value)}")
    file.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _aml(*argv: str) -> int:
    return cli.main(["--env", "local", "suppressions", *argv])


def test_the_command_is_registered() -> None:
    args = cli.build_parser().parse_args(["suppressions", "token", "--account", "-"])
    assert args.func is suppressions_cli.token_command


def test_check_accepts_a_valid_file(allow_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _write(allow_file, _raw(), _raw(id="S002", subject_token=B, rules=["*"]))
    assert _aml("check") == 0
    out = capsys.readouterr().out
    fingerprint = parse({"suppression": [_raw(), _raw(id="S002", subject_token=B, rules=["*"])]})
    assert f"2 entries, fingerprint {fingerprint.fingerprint()}: OK" in out


def test_check_accepts_an_absent_file(allow_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _aml("check") == 0
    assert "absent" in capsys.readouterr().out


def test_check_warns_of_expired_entries(allow_file: Path, caplog: pytest.LogCaptureFixture) -> None:
    _write(allow_file, _raw())
    with caplog.at_level(logging.WARNING):
        assert _aml("check", "--as-of", "2024-01-21") == 0
    assert "'S001' expired on 2024-01-20" in caplog.text


def test_check_under_an_unscored_pack_warns_that_the_list_is_not_applied(
    allow_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    overrides = Path(os.environ["AML_OVERRIDES"])
    load_config("local").with_settings("gold", rule_pack="v1").write_overrides(overrides)
    _write(allow_file, _raw())
    with caplog.at_level(logging.WARNING):
        assert _aml("check") == 0
    assert "is not scored: gold does not apply the allow-list" in caplog.text


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "expires before valid_from"),
        ("[[suppression]\nid = ", "not valid TOML"),
        ("[[suppresion]]\nid = 'S001'", "unknown top-level keys ['suppresion']"),
        ("[suppression]\nid = 'S001'", "array of tables"),
        ("rules", "not in the environment's rule pack"),
        ("empty-rules", "rules is empty"),
        ("placeholder", "placeholder"),
    ],
    ids=["invalid-entry", "bad-toml", "typo", "table", "unknown-rule", "empty-rules", "example"],
)
def test_check_exits_2_with_a_clear_message(
    allow_file: Path, caplog: pytest.LogCaptureFixture, content: str | None, message: str
) -> None:
    if content is None:
        _write(allow_file, _raw(expires=dt.date(2024, 1, 1)))
    elif content == "rules":
        _write(allow_file, _raw(rules=["R13", "R99"]))
    elif content == "empty-rules":
        _write(allow_file, _raw(rules=[]))
    elif content == "placeholder":
        allow_file.write_text(EXAMPLE.read_text(encoding="utf-8"), encoding="utf-8")
    else:
        allow_file.write_text(content, encoding="utf-8")
    with caplog.at_level(logging.ERROR):
        assert _aml("check") == 2
    assert message in caplog.text
    assert str(allow_file) in caplog.text


def test_list_shows_status_and_only_a_token_prefix(
    allow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _write(
        allow_file,
        _raw(reason="verified payroll\nrun, case 42"),
        _raw(id="S002", subject_token=B, rules=["R13", "R14"], valid_from=dt.date(2024, 2, 1),
             expires=dt.date(2024, 3, 1)),
    )  # fmt: skip
    assert _aml("list", "--as-of", "2024-01-21") == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert "2 entries, status as of 2024-01-21" in lines[0]
    assert lines[1].split() == [
        "ID", "RULES", "OWNER", "VALID_FROM", "EXPIRES", "STATUS", "TOKEN", "REASON"
    ]  # fmt: skip
    assert lines[2].split()[:7] == [
        "S001", "R13", "payments-operations", "2024-01-10", "2024-01-20", "expired", A[:8]
    ]  # fmt: skip
    assert lines[2].endswith("verified payroll run, case 42")
    assert lines[3].split()[:7] == [
        "S002", "R13,R14", "payments-operations", "2024-02-01", "2024-03-01", "pending", B[:8]
    ]  # fmt: skip
    assert A not in out and B not in out and A[:9] not in out


def test_list_of_an_absent_file(allow_file: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert _aml("list") == 0
    assert "nothing is suppressed" in capsys.readouterr().out


def test_token_is_silvers_token_and_never_shows_the_account(
    spark,
    allow_file: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    with ephemeral_keys(), caplog.at_level(logging.DEBUG):
        key = load_keyring(load_config("local")).token_key
        assert _aml("token", "--account", ACCOUNT) == 0
        by_argument = capsys.readouterr()
        monkeypatch.setattr("sys.stdin", io.StringIO(f"  {ACCOUNT}\n"))
        assert _aml("token", "--account", "-") == 0
        by_stdin = capsys.readouterr()

    want = hmac.new(key, ACCOUNT.encode(), hashlib.sha256).hexdigest()
    silver = spark.createDataFrame([(int(ACCOUNT),)], "account BIGINT")
    assert silver.select(token("account", key).alias("t")).first()["t"] == want
    assert by_argument.out == by_stdin.out == f"{want}\n"
    shown = by_argument.out + by_argument.err + by_stdin.err + caplog.text
    assert ACCOUNT not in shown, "the account number was printed or logged"
    assert "token key" in by_argument.err


def test_token_of_an_account_with_leading_zeros_is_of_the_text_and_says_so(
    allow_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Silver tokenizes the account text as received, so zeros are kept, and the analyst told."""
    padded = "0000000042"
    with ephemeral_keys():
        key = load_keyring(load_config("local")).token_key
        assert _aml("token", "--account", padded) == 0
    captured = capsys.readouterr()
    assert captured.out == hmac.new(key, padded.encode(), hashlib.sha256).hexdigest() + "\n"
    assert "leading zeros" in captured.err
    assert padded not in captured.err


@pytest.mark.parametrize("account", ["12ab", "", "10000000012", "-5"])
def test_token_refuses_a_malformed_account_without_echoing_it(
    allow_file: Path,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
    account: str,
) -> None:
    with ephemeral_keys(), caplog.at_level(logging.DEBUG):
        assert _aml("token", f"--account={account}") == 2
    captured = capsys.readouterr()
    shown = captured.out + captured.err + caplog.text
    assert "must be 1 to 10 digits" in captured.err
    assert not account or account not in shown, "the malformed account was echoed"


def test_token_without_keys_exits_2(
    allow_file: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(FERNET_ENV, raising=False)
    monkeypatch.delenv(TOKEN_ENV, raising=False)
    with caplog.at_level(logging.ERROR):
        assert _aml("token", "--account", ACCOUNT) == 2
    assert "no keys" in caplog.text
    assert ACCOUNT not in caplog.text
