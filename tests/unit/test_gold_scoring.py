"""Scoring and consolidation of a scored pack (docs/RULES_V2.md, "Scoring and alerts"), exactly.

Hand-built hits of a small scored pack (rules A 60, B 40, C 100, D 90; threshold 100; severity
floors 100 / 150 / 250) go through :func:`aml.gold.scoring.consolidate` in one Spark run; each
test reads its own subject's alert. Covered: the threshold inclusive and a point below it, a
rule counted once however many hits, the ISO-week edge (Sunday 23:59:59 against Monday 00:00),
severity bands at their floors, PEP / HIGH escalation and nulls in those flags, suppressed hits
(kept, flagged, not counted), one transaction hit by two rules, and the alert id formula.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from decimal import Decimal

import pytest

from aml.gold.evaluation import Lineage
from aml.gold.rulepack import Rule, RulePack, Scoring
from aml.gold.scoring import consolidate, with_scores

pytestmark = pytest.mark.unit

LINEAGE = Lineage(3, "scoring-test", dt.datetime(2024, 3, 1, tzinfo=dt.UTC))
SCORES = {"A": 60, "B": 40, "C": 100, "D": 90}
PACK = RulePack(
    name="test",
    version="2",
    rules=tuple(
        Rule(
            rid,
            f"RULE_{rid}",
            "large_amount",
            1,
            "MEDIUM",
            True,
            {"score": Decimal(s)},
            (f"Typology_{rid}",),
            f"rule {rid}",
        )
        for rid, s in SCORES.items()
    ),  # fmt: skip
    scoring=Scoring("week", 100, (("MEDIUM", 100), ("HIGH", 150), ("CRITICAL", 250))),
)
MONDAY = dt.datetime(2024, 1, 8, 12, 0, 0, tzinfo=dt.UTC)  # a Monday
SUNDAY_LAST = dt.datetime(2024, 1, 14, 23, 59, 59, tzinfo=dt.UTC)
NEXT_MONDAY = dt.datetime(2024, 1, 15, 0, 0, 0, tzinfo=dt.UTC)
HIT_SCHEMA = (
    "hit_id STRING, rule_id STRING, rule_name STRING, rule_version INT, param_hash STRING, "
    "transaction_id BIGINT, subject_token STRING, subject_role STRING, event_ts TIMESTAMP, "
    "event_date DATE, amount DECIMAL(14,2), base_severity STRING, subject_is_pep BOOLEAN, "
    "subject_is_high_risk BOOLEAN, alert_id STRING, silver_version BIGINT, run_id STRING, "
    "evaluated_at TIMESTAMP, is_suppressed BOOLEAN, suppression_id STRING"
)

# subject -> hits (rule, transaction id, time, amount, pep, high risk, suppressed)
SCENARIOS = {
    "below": [("A", 1, MONDAY, "10.00", False, False, False)],
    "at_threshold": [
        ("A", 2, MONDAY, "10.00", False, False, False),
        ("B", 3, MONDAY, "20.00", False, False, False),
    ],
    "rule_once": [
        ("A", 4, MONDAY, "10.00", False, False, False),
        ("A", 5, MONDAY + dt.timedelta(days=1), "10.00", False, False, False),
    ],
    "week_edge": [
        ("A", 6, SUNDAY_LAST, "10.00", False, False, False),
        ("B", 7, NEXT_MONDAY, "10.00", False, False, False),
    ],
    "high": [
        ("C", 8, MONDAY, "10.00", False, False, False),
        ("A", 9, MONDAY, "10.00", False, False, False),
    ],
    "just_below_high": [
        ("D", 10, MONDAY, "10.00", False, False, False),
        ("A", 11, MONDAY, "10.00", False, False, False),
    ],
    "critical": [
        ("C", 12, MONDAY, "10.00", False, False, False),
        ("D", 13, MONDAY, "10.00", False, False, False),
        ("A", 14, MONDAY, "10.00", False, False, False),
    ],
    "pep": [("C", 15, MONDAY, "10.00", True, None, False)],
    "null_flags": [("C", 16, MONDAY, "10.00", None, None, False)],
    "suppressed_only": [("C", 17, MONDAY, "10.00", False, False, True)],
    "suppressed_beside": [
        ("C", 18, MONDAY, "10.00", False, False, False),
        ("D", 19, MONDAY, "10.00", False, False, True),
    ],
    "two_rules_one_tx": [
        ("C", 20, MONDAY, "30.00", False, False, False),
        ("A", 20, MONDAY, "30.00", False, False, False),
    ],
}


def expected_alert_id(subject: str, monday: dt.date) -> str:
    key = f"v2|{subject}|{monday.isoformat()}".encode()
    return hashlib.sha256(key).hexdigest()[:32]


@pytest.fixture(scope="module")
def result(spark):
    rows = []
    for subject, hits in SCENARIOS.items():
        for rule_id, tx_id, ts, amount, pep, high, suppressed in hits:
            rows.append(
                (
                    f"{rule_id}-{tx_id}-{subject}", rule_id, f"RULE_{rule_id}", 1, f"h{rule_id}",
                    tx_id, subject, "sender", ts, ts.date(), Decimal(amount), "MEDIUM", pep,
                    high, "v1-style-id", 3, "scoring-test", LINEAGE.evaluated_at, suppressed,
                    "S001" if suppressed else None,
                )
            )  # fmt: skip
    hits_df = with_scores(spark.createDataFrame(rows, HIT_SCHEMA), PACK)
    alerted_df, alerts_df = consolidate(hits_df, PACK, LINEAGE)
    hits = {(r.subject_token, r.hit_id): r for r in alerted_df.collect()}
    alerts = {r.subject_token: r for r in alerts_df.orderBy("alert_date").collect()}
    return hits, alerts


def _hits(result, subject):
    return [r for (s, _), r in result[0].items() if s == subject]


def test_a_point_below_the_threshold_raises_no_alert_and_leaves_the_hit_a_signal(result):
    assert "below" not in result[1]
    (hit,) = _hits(result, "below")
    assert hit.alert_id is None and hit.score == 60


def test_the_threshold_is_inclusive(result):
    alert = result[1]["at_threshold"]
    assert (alert.score, alert.base_severity) == (100, "MEDIUM")
    assert alert.alert_id == expected_alert_id("at_threshold", MONDAY.date())
    assert {h.alert_id for h in _hits(result, "at_threshold")} == {alert.alert_id}


def test_a_rule_counts_once_however_many_hits_it_has(result):
    assert "rule_once" not in result[1]


def test_hits_either_side_of_the_week_edge_do_not_add_up(result):
    assert "week_edge" not in result[1]


def test_severity_bands_start_at_their_floors(result):
    assert (result[1]["high"].score, result[1]["high"].base_severity) == (160, "HIGH")
    assert (result[1]["just_below_high"].score,
            result[1]["just_below_high"].base_severity) == (150, "HIGH")  # fmt: skip
    assert (result[1]["critical"].score, result[1]["critical"].base_severity) == (
        250,
        "CRITICAL",
    )


def test_a_pep_subject_is_escalated_one_step_and_null_flags_are_not(result):
    pep = result[1]["pep"]
    assert (pep.base_severity, pep.effective_severity) == ("MEDIUM", "HIGH")
    assert "PEP" in pep.escalation_reason
    plain = result[1]["null_flags"]
    assert (plain.effective_severity, plain.escalation_reason) == ("MEDIUM", None)


def test_a_suppressed_hit_stays_flagged_and_does_not_count(result):
    assert "suppressed_only" not in result[1]
    (hit,) = _hits(result, "suppressed_only")
    assert hit.is_suppressed and hit.suppression_id == "S001" and hit.alert_id is None
    alert = result[1]["suppressed_beside"]
    assert alert.score == 100 and alert.suppressed_hits == 1
    assert [b.rule_id for b in alert.score_breakdown] == ["C"]
    assert alert.transaction_ids == [18]


def test_a_transaction_hit_by_two_rules_is_counted_once_in_the_amount(result):
    alert = result[1]["two_rules_one_tx"]
    assert alert.hit_count == 2 and alert.transaction_ids == [20]
    assert alert.total_amount == Decimal("30.00")
    assert [(b.rule_id, b.score, b.hits) for b in alert.score_breakdown] == [
        ("C", 100, 1),
        ("A", 60, 1),
    ]
    assert alert.rule_id == "C" and alert.typologies == ["Typology_A", "Typology_C"]


def test_narratives_carry_the_breakdown_and_no_long_digit_runs(result):
    for alert in result[1].values():
        assert "Score " in alert.narrative and "threshold 100" in alert.narrative
        assert not any(len(run) >= 8 for run in _digit_runs(alert.narrative))


def _digit_runs(text: str) -> list[str]:
    runs, current = [], ""
    for char in text:
        if char.isdigit():
            current += char
        else:
            runs.append(current)
            current = ""
    return [*runs, current]


def test_with_scores_sets_the_iso_week_start(spark):
    df = spark.createDataFrame(
        [(SUNDAY_LAST, "A"), (NEXT_MONDAY, "B")], "event_ts TIMESTAMP, rule_id STRING"
    )
    rows = with_scores(df, PACK).orderBy("event_ts").select("period_start", "score").collect()
    assert [(r.period_start, r.score) for r in rows] == [
        (dt.date(2024, 1, 8), 60),
        (dt.date(2024, 1, 15), 40),
    ]
