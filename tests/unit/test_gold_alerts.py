"""gold.alerts from rule hits: the alert key, one alert per rule / subject / UTC day, severity and
escalation, and a narrative with no personal data (RULES.md, "Alert" and "Severity").

Two sets of inputs: silver rows evaluated by R01 and R03 (end to end, so the alert key is the one
the hits carry), and hand-built hits for the severity ladder cases no v1 rule produces (LOW).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from decimal import Decimal

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F
from tests.unit.gold_rows import ALL_NULL, LINEAGE, T0, Tx, pack_of, tx_df

from aml.gold import alerts, evaluation

PACK = pack_of("R01", "R03")


def token(name: str) -> str:
    """A realistic 64-hex subject token (silver keeps tokens, never account numbers)."""
    return hashlib.sha256(name.encode()).hexdigest()


Z, DAYS, MIX = token("structured"), token("midnight"), token("mixed")
PEP, RISK, BOTH, LOW, UNKNOWN, CRIT = (
    token(n) for n in ("pep", "risk", "both", "low", "unknown", "critical")
)
MIDNIGHT = 12 * 3600  # T0 is 2024-01-10 12:00:00 UTC

ROWS = [
    # R03: three receipts of Z on 2024-01-10 -> one alert; senders are PEPs (not the subject).
    Tx(1, 0, "9000.00", token("s1"), Z, sender_is_pep=True),
    Tx(2, 60, "9500.00", token("s2"), Z),
    Tx(3, 120, "8000.00", token("s3"), Z),
    # R01: one second either side of midnight -> two alerts.
    Tx(4, MIDNIGHT - 1, "20000.00", DAYS, token("r")),
    Tx(5, MIDNIGHT, "30000.00", DAYS, token("r")),
    # R01: MEDIUM and HIGH hits of one subject and day -> one HIGH alert.
    Tx(7, 10, "200000.00", MIX, token("r")),
    Tx(6, 20, "20000.00", MIX, token("r")),
    Tx(8, 30, "10000.01", MIX, token("r")),
    # Escalation by the subject's own attributes.
    Tx(10, 0, "20000", PEP, token("r"), sender_is_pep=True),
    Tx(11, 0, "20000", RISK, token("r"), sender_risk="HIGH"),
    Tx(12, 0, "20000", BOTH, token("r"), sender_is_pep=True, sender_risk="HIGH"),
    Tx(13, 0, "20000", LOW, token("r"), receiver_is_pep=True, receiver_risk="HIGH"),
    Tx(14, 0, "20000", UNKNOWN, token("r"), sender_is_pep=None, sender_risk=None),
    Tx(15, 0, "2000000", CRIT, token("r"), sender_is_pep=True),
    # Null rows: no hit, no alert, no error.
    Tx(16, None, "20000", LOW, token("r")),
    Tx(17, 0, None, LOW, token("r")),
    ALL_NULL,
]
PEP_REASON = "subject's customer is a PEP"
RISK_REASON = "subject's customer has risk rating HIGH"


@pytest.fixture(scope="module")
def alerts_df(spark):
    hits_df = evaluation.evaluate(spark, tx_df(spark, ROWS), PACK, LINEAGE)
    result_df = alerts.build_alerts(hits_df, PACK, LINEAGE).cache()
    yield result_df
    result_df.unpersist()


@pytest.fixture(scope="module")
def by_subject(alerts_df) -> dict[tuple[str, str], list]:
    result: dict[tuple[str, str], list] = {}
    for alert in alerts_df.orderBy("alert_date").collect():
        result.setdefault((alert.rule_id, alert.subject_token), []).append(alert)
    return result


def expected_alert_id(rule_id: str, subject_token: str, day: str) -> str:
    return hashlib.sha256(f"{rule_id}|{subject_token}|{day}".encode()).hexdigest()[:32]


def test_alert_id_is_the_sha256_of_rule_subject_and_utc_day(by_subject):
    (alert,) = by_subject[("R03", Z)]
    assert alert.alert_id == expected_alert_id("R03", Z, "2024-01-10")
    assert alert.alert_date == dt.date(2024, 1, 10)


def test_hits_one_second_apart_across_midnight_give_two_alerts(by_subject):
    first, second = by_subject[("R01", DAYS)]
    assert (first.alert_date, first.transaction_ids) == (dt.date(2024, 1, 10), [4])
    assert (second.alert_date, second.transaction_ids) == (dt.date(2024, 1, 11), [5])
    assert first.alert_id == expected_alert_id("R01", DAYS, "2024-01-10")
    assert second.alert_id == expected_alert_id("R01", DAYS, "2024-01-11")


def test_one_alert_gathers_every_hit_of_its_rule_subject_and_day(spark, alerts_df):
    actual_df = alerts_df.where(F.col("subject_token").isin(Z, MIX)).select(
        "rule_id", "subject_token", "subject_role", "base_severity", "effective_severity",
        "escalation_reason", "hit_count", "total_amount", "transaction_ids", "status",
    )  # fmt: skip
    expected_df = spark.createDataFrame(
        [
            ("R03", Z, "receiver", "HIGH", "HIGH", None, 3, Decimal("26500.00"), [1, 2, 3], "NEW"),
            ("R01", MIX, "sender", "HIGH", "HIGH", None, 3, Decimal("230000.01"), [6, 7, 8], "NEW"),
        ],
        "rule_id STRING, subject_token STRING, subject_role STRING, base_severity STRING, "
        "effective_severity STRING, escalation_reason STRING, hit_count BIGINT, "
        "total_amount DECIMAL(24,2), transaction_ids ARRAY<BIGINT>, status STRING",
    )
    assert_df_equality(actual_df, expected_df, ignore_row_order=True, ignore_nullable=True)


def test_alert_times_and_lineage(by_subject):
    (alert,) = by_subject[("R01", MIX)]
    assert alert.first_event_ts == (T0 + dt.timedelta(seconds=10)).replace(tzinfo=None)
    assert alert.last_event_ts == (T0 + dt.timedelta(seconds=30)).replace(tzinfo=None)
    assert (alert.rule_name, alert.rule_version) == ("LARGE_AMOUNT", 1)
    assert alert.param_hash == PACK.rule("R01").param_hash
    assert (alert.silver_version, alert.run_id) == (LINEAGE.silver_version, LINEAGE.run_id)


@pytest.mark.parametrize(
    ("subject", "effective", "reason"),
    [
        pytest.param(PEP, "HIGH", PEP_REASON, id="pep_escalates_one_level"),
        pytest.param(RISK, "HIGH", RISK_REASON, id="risk_high_escalates_one_level"),
        pytest.param(BOTH, "HIGH", f"{PEP_REASON}; {RISK_REASON}", id="both_escalate_only_once"),
        pytest.param(LOW, "MEDIUM", None, id="risk_low_and_other_side_pep_do_not_escalate"),
        pytest.param(UNKNOWN, "MEDIUM", None, id="unknown_attributes_do_not_escalate"),
        pytest.param(CRIT, "CRITICAL", PEP_REASON, id="critical_stays_critical"),
    ],
)
def test_escalation_by_the_subjects_customer(by_subject, subject, effective, reason):
    (alert,) = by_subject[("R01", subject)]
    assert (alert.effective_severity, alert.escalation_reason) == (effective, reason)
    base = "CRITICAL" if subject == CRIT else "MEDIUM"
    assert alert.base_severity == base
    if reason:
        assert f"escalated to {effective}: {reason}" in alert.narrative
    else:
        assert "escalated" not in alert.narrative


def test_null_rows_give_no_alert(alerts_df):
    assert alerts_df.where(F.array_contains("transaction_ids", 16)).count() == 0
    assert alerts_df.where(F.array_contains("transaction_ids", 17)).count() == 0
    assert alerts_df.where(F.col("subject_token").isNull()).count() == 0
    assert alerts_df.count() == 10


def test_narrative_holds_no_long_digit_run_and_no_token_beyond_six_chars(by_subject):
    for alerts_of_subject in by_subject.values():
        for alert in alerts_of_subject:
            text = alert.narrative
            assert not re.search(r"\d{8,}", text), text
            assert alert.subject_token[:6] in text
            token_ = alert.subject_token
            assert not any(token_[i : i + 7] in text for i in range(len(token_) - 6)), text
            assert alert.rule_id in text and alert.base_severity in text


def test_large_totals_are_grouped_in_the_narrative(by_subject):
    (alert,) = by_subject[("R01", CRIT)]
    assert "2,000,000.00 GBP" in alert.narrative


# Hand-built hits: the whole ladder, LOW included --------------------------------------------------
HIT_SCHEMA = (
    "hit_id STRING, rule_id STRING, rule_name STRING, rule_version INT, param_hash STRING, "
    "transaction_id BIGINT, subject_token STRING, subject_role STRING, event_ts TIMESTAMP, "
    "event_date DATE, amount DECIMAL(14,2), base_severity STRING, subject_is_pep BOOLEAN, "
    "subject_is_high_risk BOOLEAN, alert_id STRING, silver_version BIGINT, run_id STRING, "
    "evaluated_at TIMESTAMP"
)
LADDER = [
    # (subject, base severities of its hits, is_pep, is_high_risk) -> (base, effective)
    ("low", ["LOW"], False, False, "LOW", "LOW"),
    ("low-pep", ["LOW"], True, False, "LOW", "MEDIUM"),
    ("medium-risk", ["MEDIUM", "LOW"], False, True, "MEDIUM", "HIGH"),
    ("high-both", ["HIGH", "MEDIUM"], True, True, "HIGH", "CRITICAL"),
    ("critical-pep", ["CRITICAL", "LOW"], True, False, "CRITICAL", "CRITICAL"),
    ("medium-null", ["MEDIUM"], None, None, "MEDIUM", "MEDIUM"),
]


@pytest.fixture(scope="module")
def ladder_alerts(spark) -> dict[str, tuple[str, str]]:
    at = dt.datetime(2024, 1, 10, 9, tzinfo=dt.UTC)
    rows, n = [], 0
    for subject, severities, pep, risk, _, _ in LADDER:
        for severity in severities:
            n += 1
            rows.append(
                (f"h{n}", "RX", "TEST", 1, "p", n, subject, "sender", at, at.date(), Decimal(1),
                 severity, pep, risk, expected_alert_id("RX", subject, "2024-01-10"), 1, "r", at)
            )  # fmt: skip
    hits_df = spark.createDataFrame(rows, HIT_SCHEMA)
    alerts_df = alerts.build_alerts(hits_df, PACK, LINEAGE)
    return {
        a.subject_token: (a.base_severity, a.effective_severity)
        for a in alerts_df.select("subject_token", "base_severity", "effective_severity").collect()
    }


@pytest.mark.parametrize(
    ("subject", "base", "effective"), [(s, b, e) for s, _, _, _, b, e in LADDER], ids=str
)
def test_base_severity_is_the_highest_hit_and_escalation_is_one_capped_level(
    ladder_alerts, subject, base, effective
):
    assert ladder_alerts[subject] == (base, effective)
