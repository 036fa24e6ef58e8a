"""The Great Expectations publish gate: good batches pass, bad ones stop publishing, and no data
value reaches the ops table or the Data Docs."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import uuid
from decimal import Decimal
from pathlib import Path

import pytest

from aml.config import Config, ConfigError
from aml.gold.expectations import SUITES_DIR, gx_dir, load_suite, to_gx_suite
from aml.gold.validate import ValidationFailed, docs_always, gate, render_docs, validate

SUITES = (
    "silver_transactions",
    "gold_suspicious_transactions",
    "gold_alerts",
    "gold_reconciliation",
)
TS = dt.datetime(2026, 11, 2, 10, 30)

SILVER_SCHEMA = (
    "transaction_id BIGINT, event_ts TIMESTAMP, event_date DATE, amount DECIMAL(14,2), "
    "payment_currency STRING, received_currency STRING, sender_bank_location STRING, "
    "receiver_bank_location STRING, payment_type STRING, laundering_type STRING, "
    "sender_customer_risk_rating STRING, receiver_customer_risk_rating STRING, "
    "sender_account_token STRING, receiver_account_token STRING, is_laundering INT"
)
HITS_SCHEMA = (
    "hit_id STRING, rule_id STRING, param_hash STRING, transaction_id BIGINT, "
    "subject_token STRING, subject_role STRING, amount DECIMAL(14,2), base_severity STRING, "
    "alert_id STRING, silver_version BIGINT"
)
ALERTS_SCHEMA = (
    "alert_id STRING, rule_id STRING, param_hash STRING, subject_token STRING, "
    "base_severity STRING, effective_severity STRING, escalation_reason STRING, "
    "hit_count BIGINT, total_amount DECIMAL(16,2), transaction_ids ARRAY<BIGINT>, "
    "narrative STRING, status STRING, silver_version BIGINT"
)
RECON_SCHEMA = "orphan_hits BIGINT, alert_hit_mismatch BIGINT, hits_without_alert BIGINT"


def token(seed: object) -> str:
    return hashlib.sha256(str(seed).encode()).hexdigest()


def hex32(seed: object) -> str:
    return token(seed)[:32]


def silver_row(i: int, **changes: object) -> dict:
    row = {
        "transaction_id": i,
        "event_ts": TS,
        "event_date": TS.date(),
        "amount": Decimal("125.50") * i,
        "payment_currency": "UK pounds",
        "received_currency": "Euro",
        "sender_bank_location": "UK",
        "receiver_bank_location": "Spain",
        "payment_type": "Cross-border",
        "laundering_type": "Normal_Small_Fan_Out",
        "sender_customer_risk_rating": "LOW",
        "receiver_customer_risk_rating": None,  # the null row: an account with no customer
        "sender_account_token": token(f"s{i}"),
        "receiver_account_token": token(f"r{i}"),
        "is_laundering": 0,
    }
    return {**row, **changes}


def alert_row(i: int, **changes: object) -> dict:
    row = {
        "alert_id": hex32(f"alert{i}"),
        "rule_id": "R03",
        "param_hash": hex32("params"),
        "subject_token": token(f"s{i}"),
        "base_severity": "MEDIUM",
        "effective_severity": "HIGH" if i == 1 else "MEDIUM",
        "escalation_reason": "subject is a PEP" if i == 1 else None,
        "hit_count": 1,
        "total_amount": Decimal("125.50") * i,
        "transaction_ids": [i],
        "narrative": f"Structuring: {i} cash deposits just under the threshold within 3 days.",
        "status": "NEW",
        "silver_version": 7,
    }
    return {**row, **changes}


def hit_row(i: int) -> dict:
    return {
        "hit_id": hex32(f"hit{i}"),
        "rule_id": "R03",
        "param_hash": hex32("params"),
        "transaction_id": i,
        "subject_token": token(f"s{i}"),
        "subject_role": "sender",
        "amount": Decimal("125.50") * i,
        "base_severity": "MEDIUM",
        "alert_id": hex32(f"alert{i}"),
        "silver_version": 7,
    }


@pytest.fixture(scope="module")
def gx_config(lake_config: Config, tmp_path_factory: pytest.TempPathFactory) -> Config:
    """The test lake, with the GX project (and its Data Docs) in a temporary folder."""
    gx_dir = tmp_path_factory.mktemp("gx")
    return dataclasses.replace(lake_config, data={**lake_config.data, "gold": {"gx_dir": gx_dir}})


@pytest.fixture()
def run_id() -> str:
    return uuid.uuid4().hex


def good_batches(spark) -> dict:
    return {
        "silver_transactions": spark.createDataFrame(
            [silver_row(i) for i in (1, 2, 3)], SILVER_SCHEMA
        ),
        "gold_suspicious_transactions": spark.createDataFrame(
            [hit_row(i) for i in (1, 2)], HITS_SCHEMA
        ),
        "gold_alerts": spark.createDataFrame([alert_row(i) for i in (1, 2)], ALERTS_SCHEMA),
        "gold_reconciliation": spark.createDataFrame([(0, 0, 0)], RECON_SCHEMA),
    }


def ops_rows(spark, config: Config, run_id: str) -> dict:
    path = config.table_path("ops", "validation_results")
    rows = spark.read.format("delta").load(path).where(f"run_id = '{run_id}'").collect()
    return {row.suite: row for row in rows}


def run_pages(report, suite: str) -> list[Path]:
    """The Data Docs pages of one suite in one run (GX names the folder after the run)."""
    site = Path(report.docs_path).parent
    return sorted((site / "validations" / suite / report.run_id).rglob("*.html"))


def test_every_suite_file_loads_with_distinct_labels_and_known_gx_types(base_config):
    for path in sorted((base_config.root / SUITES_DIR).glob("*.toml")):
        suite = load_suite(base_config, path.stem)
        assert suite.name == path.stem
        gx_suite = to_gx_suite(suite)  # raises on an unknown expectation type or bad kwargs
        assert len(gx_suite.expectations) == len(suite.expectations)
    assert {p.stem for p in (base_config.root / SUITES_DIR).glob("*.toml")} >= set(SUITES)


def test_alerts_suite_declares_the_evidence_size_it_derives(base_config):
    suite = load_suite(base_config, "gold_alerts")
    assert suite.derived == {"evidence_size": "size(transaction_ids)"}
    assert "evidence_size" not in suite.columns
    assert "transaction_ids" not in suite.columns  # judged through evidence_size only


def test_good_batches_pass_every_suite_and_are_recorded(spark, gx_config, run_id):
    report = gate(spark, gx_config, run_id, "gold_test", good_batches(spark))

    assert report.success
    assert [s.suite for s in report.suites] == list(SUITES)
    assert all(s.success and s.failed == () and s.evaluated > 0 for s in report.suites)
    assert Path(report.docs_path).name == "index.html" and Path(report.docs_path).is_file()
    rows = ops_rows(spark, gx_config, run_id)
    assert set(rows) == set(SUITES)
    for suite in report.suites:
        row = rows[suite.suite]
        assert row.success is True and row.job == "gold_test"
        assert row.evaluated == suite.evaluated and row.failed_expectations == []
        assert row.suite_version == 1 and row.validated_at is not None
        assert Path(row.docs_path).is_file()


@pytest.mark.parametrize(
    ("change", "label", "column", "secret"),
    [
        (
            {"alert_id": None},
            "expect_column_values_to_not_be_null(alert_id)",
            "alert_id",
            None,
        ),
        (
            {"base_severity": "SEVERE"},
            "expect_column_values_to_be_in_set(base_severity)",
            "base_severity",
            "SEVERE",
        ),
        (
            {"narrative": "Paid from account 4711042424 twice."},
            "expect_column_values_to_not_match_regex(narrative)",
            "narrative",
            "4711042424",
        ),
    ],
    ids=["null-alert-id", "unknown-severity", "account-number-in-narrative"],
)
def test_bad_alert_stops_publishing_and_is_reported_without_its_values(
    spark, gx_config, run_id, change, label, column, secret
):
    alerts_df = spark.createDataFrame([alert_row(1), alert_row(2, **change)], ALERTS_SCHEMA)

    with pytest.raises(ValidationFailed) as failed:
        gate(spark, gx_config, run_id, "gold_test", {"gold_alerts": alerts_df})

    report = failed.value.report
    assert not report.success
    (suite,) = report.suites
    assert suite.failed == (label,) and suite.unexpected == {label: 1}
    assert "gold_alerts" in str(failed.value) and label in str(failed.value)
    row = ops_rows(spark, gx_config, run_id)["gold_alerts"]
    assert row.success is False and row.failed_expectations == [label]
    assert row.unexpected_counts == {label: 1}
    pages = [p.read_text(encoding="utf-8") for p in run_pages(report, "gold_alerts")]
    assert any(label.split("(")[0] in page and column in page for page in pages)
    if secret:
        assert secret not in str(row.asDict())
        assert not any(secret in page for page in pages)
        gx_files = Path(report.docs_path).parents[3].rglob("*")
        assert not any(secret in p.read_text(errors="ignore") for p in gx_files if p.is_file())


def test_empty_evidence_fails_through_the_derived_evidence_size(spark, gx_config, run_id):
    alerts_df = spark.createDataFrame([alert_row(1, transaction_ids=[])], ALERTS_SCHEMA)

    report = validate(spark, gx_config, run_id, "gold_test", {"gold_alerts": alerts_df})

    assert report.suites[0].failed == ("expect_column_values_to_be_between(evidence_size)",)


def test_silver_digit_runs_fail_in_text_columns_but_not_in_tokens(spark, gx_config, run_id):
    digits_token = "0123456789" * 6 + "abcd"  # a valid token that happens to hold digit runs
    silver_df = spark.createDataFrame(
        [
            silver_row(1, sender_account_token=digits_token),
            silver_row(2, payment_type="Cash 1234567890"),
            silver_row(3, receiver_account_token="1234567890"),
        ],
        SILVER_SCHEMA,
    )

    report = validate(spark, gx_config, run_id, "gold_test", {"silver_transactions": silver_df})

    assert report.suites[0].failed == (
        "expect_column_values_to_match_regex(receiver_account_token)",
        "expect_column_values_to_not_match_regex(payment_type)",
    )


def test_counts_that_do_not_reconcile_fail_the_gate(spark, gx_config, run_id):
    recon_df = spark.createDataFrame([(3, 0, None)], RECON_SCHEMA)

    with pytest.raises(ValidationFailed, match="orphan_hits"):
        gate(spark, gx_config, run_id, "gold_test", {"gold_reconciliation": recon_df})

    assert ops_rows(spark, gx_config, run_id)["gold_reconciliation"].failed_expectations == [
        "expect_column_values_to_be_between(orphan_hits)",
        "expect_column_values_to_not_be_null(hits_without_alert)",
    ]


def test_duplicate_keys_fail_uniqueness(spark, gx_config, run_id):
    hits_df = spark.createDataFrame([hit_row(1), hit_row(1), hit_row(2)], HITS_SCHEMA)

    report = validate(
        spark, gx_config, run_id, "gold_test", {"gold_suspicious_transactions": hits_df}
    )

    assert report.suites[0].failed == (
        "expect_column_values_to_be_unique(hit_id)",
        "expect_compound_columns_to_be_unique(transaction_id,rule_id,subject_token)",
    )


def test_unknown_suite_is_a_config_error_before_anything_runs(spark, gx_config, run_id):
    with pytest.raises(ConfigError, match="no expectation suite 'gold_nope'"):
        validate(spark, gx_config, run_id, "gold_test", {"gold_nope": spark.range(1)})


def test_gx_dir_defaults_to_the_run_folder(base_config):
    assert gx_dir(base_config) == base_config.run_dir / "gx"


def test_data_docs_are_rendered_on_failure_only_unless_configured_always(base_config):
    assert docs_always(base_config) is False
    always = base_config.with_settings("gold", data_docs="always")
    assert docs_always(always) is True
    with pytest.raises(ConfigError, match="data_docs = 'sometimes'"):
        docs_always(base_config.with_settings("gold", data_docs="sometimes"))


def test_a_passing_run_without_docs_leaves_no_page_until_rendered_on_demand(
    spark, lake_config, tmp_path, run_id
):
    config = dataclasses.replace(
        lake_config, data={**lake_config.data, "gold": {"gx_dir": tmp_path / "gx"}}
    )
    report = gate(spark, config, run_id, "gold_test", good_batches(spark), update_docs=False)

    assert report.success and not list((tmp_path / "gx").rglob("*.html"))
    index = render_docs(config)
    assert index is not None and Path(index).name == "index.html"
    rendered = dataclasses.replace(report, docs_path=index)
    assert run_pages(rendered, "gold_alerts")  # this run's pages, rendered now


def test_rendering_docs_before_any_validation_says_so(base_config, tmp_path):
    config = dataclasses.replace(
        base_config, data={**base_config.data, "gold": {"gx_dir": tmp_path / "none"}}
    )
    assert render_docs(config) is None
