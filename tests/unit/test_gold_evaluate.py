"""``aml evaluate`` on hand-built ground truth, hits, alerts and labels whose answer is known.

The scenario (rule pack v1: R01 is meant for Single_large, R03 for Structuring):

- Structuring #1 (tx 1-3): R03 hits tx 1 and 2 -> detected, 2 of 3 transactions.
- Structuring #2 (tx 4-5): only R01 hits tx 4 -> not detected, and no "any rule" credit
  (Structuring has a rule of its own).
- Cash_Withdrawal #3 (tx 6-7): no v1 rule; R01 hits tx 6 -> 0 detected, "any rule" 1 of 1.
- Single_large #4 (tx 8): R01 -> detected.
- Cycle #5 (tx 20): in an increment not yet in silver -> left out of recall, counted apart.
- Normal tx 9-12. Hard negatives for R03: h1 (tx 9, 10; R03 hits tx 9) and h2 (tx 11).
- Alerts: A1 R03 [1, 2] TP, A2 R03 [9] FP, A3 R01 [4, 6, 8] TP, A4 R01 [10] FP, A5 R02 [null
  array] FP, plus a row with a null alert_id that is ignored -> precision 2 / 5.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging

import pytest
from chispa import assert_column_equality
from pyspark.sql import functions as F

from aml.config import load_config
from aml.gold import evaluate, rulepack
from aml.gold import evaluate_report as report

LABELS = [
    (1, 1, "Structuring"),
    (2, 1, "Structuring"),
    (3, 1, "Structuring"),
    (4, 1, "Structuring"),
    (5, 1, "Structuring"),
    (6, 1, "Cash_Withdrawal"),
    (7, 1, "Cash_Withdrawal"),
    (8, 1, "Single_large"),
    (9, 0, "Normal_Fan_In"),
    (10, 0, "Normal_Fan_In"),
    (11, 0, "Normal_Fan_In"),
    (12, None, None),
]
GROUND_TRUTH = [
    ("1", "Structuring", 1),
    ("1", "Structuring", 2),
    ("1", "Structuring", 3),
    ("2", "Structuring", 4),
    ("2", "Structuring", 5),
    ("3", "Cash_Withdrawal", 6),
    ("3", "Cash_Withdrawal", 7),
    ("4", "Single_large", 8),
]
INCREMENT_GROUND_TRUTH = [("5", "Cycle", 20)]
HARD_NEGATIVES = [("h1", "R03", 9), ("h1", "R03", 10), ("h2", "R03", 11)]
HITS = [
    (1, "R03", "subject-a"),
    (1, "R03", "subject-b"),  # the same hit recorded under a second subject: one hit
    (2, "R03", "subject-a"),
    (9, "R03", "subject-c"),
    (4, "R01", "subject-d"),
    (6, "R01", "subject-e"),
    (8, "R01", "subject-f"),
    (10, "R01", "subject-g"),
    (None, "R01", "subject-h"),
    (None, None, None),
]
ALERTS = [
    ("A1", "R03", [1, 2]),
    ("A2", "R03", [9]),
    ("A3", "R01", [4, 6, 8]),
    ("A4", "R01", [10]),
    ("A5", "R02", None),
    (None, "R01", [1]),
]
LABELS_SCHEMA = "transaction_id BIGINT, is_laundering INT, laundering_type STRING"
HITS_SCHEMA = "transaction_id BIGINT, rule_id STRING, subject_token STRING"
ALERTS_SCHEMA = "alert_id STRING, rule_id STRING, transaction_ids ARRAY<BIGINT>"


@pytest.fixture(scope="module")
def pack(base_config):
    return rulepack.load(base_config, "v1")


@pytest.fixture(scope="module")
def inputs(spark):
    return {
        "gt_df": spark.createDataFrame(GROUND_TRUTH + INCREMENT_GROUND_TRUTH, evaluate.GT_SCHEMA),
        "hits_df": spark.createDataFrame(HITS, HITS_SCHEMA),
        "alerts_df": spark.createDataFrame(ALERTS, ALERTS_SCHEMA),
        "labels_df": spark.createDataFrame(LABELS, LABELS_SCHEMA),
        "hn_df": spark.createDataFrame(HARD_NEGATIVES, evaluate.HN_SCHEMA),
    }


@pytest.fixture(scope="module")
def metrics(pack, inputs):
    return evaluate.detection_metrics(pack, **inputs)


def _typology(metrics, name):
    return next(t for t in metrics["typologies"] if t["laundering_type"] == name)


def _rule(metrics, rule_id):
    return next(r for r in metrics["rules"] if r["rule_id"] == rule_id)


def test_is_own_rule_matches_only_the_typologys_rules_and_is_false_for_nulls(spark):
    df = spark.createDataFrame(
        [
            ("Structuring", "R03", True),
            ("Structuring", "R01", False),
            ("Fan_In", "R05", True),
            ("Bipartite", "R01", False),
            ("Structuring", None, False),
            (None, "R03", False),
        ],
        "typology STRING, rule_id STRING, expected BOOLEAN",
    ).withColumn(
        "actual",
        evaluate.is_own_rule(
            F.col("typology"), F.col("rule_id"), {"Structuring": ["R03"], "Fan_In": ["R05"]}
        ),
    )
    assert_column_equality(df, "actual", "expected")


def test_instance_hit_by_its_own_rule_is_detected_and_one_hit_only_by_another_is_not(metrics):
    structuring = _typology(metrics, "Structuring")
    assert structuring["rules"] == ["R03"]
    assert (structuring["instances"], structuring["instances_detected"]) == (2, 1)
    assert structuring["instance_recall"] == 0.5
    assert (structuring["transactions"], structuring["transactions_detected"]) == (5, 2)
    assert structuring["transaction_recall"] == 0.4
    assert structuring["any_rule"] is None  # R01's hit on tx 4 is no credit for R03's typology
    single_large = _typology(metrics, "Single_large")
    assert (single_large["instance_recall"], single_large["transaction_recall"]) == (1.0, 1.0)


def test_typology_no_rule_covers_reports_recall_by_any_rule_apart(metrics):
    cash = _typology(metrics, "Cash_Withdrawal")
    assert cash["rules"] == []
    assert (cash["instances"], cash["instances_detected"], cash["instance_recall"]) == (1, 0, 0.0)
    assert cash["any_rule"] == {
        "instances_hit": 1,
        "instance_recall": 1.0,
        "transactions_hit": 1,
        "transaction_recall": 0.5,
    }


def test_typologies_of_the_rules_table_absent_from_the_data_show_zero_instances(metrics):
    names = [t["laundering_type"] for t in metrics["typologies"]]
    assert set(report.RULES_MD_TYPOLOGIES) <= set(names)
    smurfing = _typology(metrics, "Smurfing")
    assert (smurfing["rules"], smurfing["instances"], smurfing["instance_recall"]) == (
        ["R04"],
        0,
        None,
    )
    assert _typology(metrics, "Over-Invoicing")["any_rule"]["instance_recall"] is None


def test_instance_not_yet_in_silver_is_left_out_of_recall_and_counted_apart(metrics):
    cycle = _typology(metrics, "Cycle")
    assert (cycle["instances"], cycle["instances_not_in_silver"], cycle["instance_recall"]) == (
        0,
        1,
        None,
    )


def test_alert_precision_counts_false_positive_and_empty_alerts(metrics):
    overall = metrics["overall"]
    assert (overall["total_alerts"], overall["true_positive_alerts"]) == (5, 2)
    assert overall["alert_precision"] == 0.4
    assert overall["alerts_per_1000_transactions"] == 416.6667
    assert _rule(metrics, "R03")["alert_precision"] == 0.5
    assert _rule(metrics, "R02")["alert_precision"] == 0.0


def test_null_and_duplicate_hit_rows_do_not_count(metrics):
    assert metrics["overall"]["total_hits"] == 7
    assert (_rule(metrics, "R03")["hits"], _rule(metrics, "R01")["hits"]) == (3, 4)
    assert metrics["overall"]["transactions_hit"] == 7


def test_label_view_counts_laundering_transactions_hit_by_any_rule(metrics):
    overall = metrics["overall"]
    assert overall["silver_transactions"] == 12
    assert (overall["laundering_transactions"], overall["laundering_transactions_hit"]) == (8, 5)
    assert overall["laundering_share_hit"] == 0.625


def test_hard_negative_hit_by_its_rule_is_reported_per_rule(metrics):
    r03 = _rule(metrics, "R03")
    assert (r03["hard_negative_instances_hit"], r03["hard_negative_instances"]) == (1, 2)
    r01 = _rule(metrics, "R01")
    assert (r01["hard_negative_instances_hit"], r01["hard_negative_instances"]) == (0, 0)


def test_rules_carry_their_version_and_parameter_hash(metrics, pack):
    assert [r["rule_id"] for r in metrics["rules"]] == [rule.id for rule in pack.rules]
    assert _rule(metrics, "R03")["param_hash"] == pack.rule("R03").param_hash


def test_disabled_rule_leaves_its_typology_uncovered(pack):
    disabled = dataclasses.replace(pack.rule("R03"), enabled=False)
    pack_without = dataclasses.replace(
        pack, rules=tuple(disabled if r.id == "R03" else r for r in pack.rules)
    )
    counts = {"Structuring": {"instances": 2, "instances_hit_by_any_rule": 1}}
    row = next(
        t
        for t in report.typology_rows(counts, pack_without)
        if t["laundering_type"] == "Structuring"
    )
    assert (row["rules"], row["disabled_rules"]) == ([], ["R03"])
    assert row["any_rule"]["instance_recall"] == 0.5
    assert "none enabled (R03 disabled)" in report.render_markdown(
        {
            "generated_at": "2026-01-01T00:00:00+00:00",
            "dataset": {"path": "x"},
            "rule_pack": {"name": "p", "version": "1"},
            "overall": report.overall(
                {
                    "transactions": 0,
                    "transactions_hit": 0,
                    "laundering_transactions": 0,
                    "laundering_transactions_hit": 0,
                },
                {},
            ),
            "typologies": [row],
            "rules": [],
        }
    )


# --- the job: files in, files out ----------------------------------------------------------------


def _write_csv(path, header, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [",".join(header)] + [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


@pytest.fixture
def dataset(tmp_path):
    data_dir = tmp_path / "saml_d"
    _write_csv(
        data_dir / "ground_truth.csv",
        ("instance_id", "laundering_type", "transaction_id"),
        GROUND_TRUTH,
    )
    _write_csv(
        data_dir / "hard_negatives.csv",
        ("instance_id", "rule_id", "transaction_id"),
        HARD_NEGATIVES,
    )
    (data_dir / "manifest.json").write_text(json.dumps({"seed": 7, "rows": 12}), encoding="utf-8")
    increment = data_dir / "increments" / "0001"
    _write_csv(
        increment / "ground_truth.csv",
        ("instance_id", "laundering_type", "transaction_id"),
        INCREMENT_GROUND_TRUTH,
    )
    (increment / "manifest.json").write_text(json.dumps({"rows": 1}), encoding="utf-8")
    return data_dir


def test_evaluate_writes_markdown_and_json_with_the_same_numbers(
    spark, base_config, inputs, dataset, tmp_path
):
    config = base_config.with_lake(tmp_path / "lake").with_settings("gold", rule_pack="v1")
    for (layer, table), df in zip(
        evaluate.TABLES, (inputs["labels_df"], inputs["hits_df"], inputs["alerts_df"]), strict=True
    ):
        df.write.format("delta").save(config.table_path(layer, table))
    out_dir = tmp_path / "reports"

    result = evaluate.evaluate(spark, config, dataset, out_dir)

    assert json.loads((out_dir / "detection.json").read_text()) == result
    assert result["dataset"]["seed"] == 7 and result["dataset"]["increments"] == 1
    assert _typology(result, "Cycle")["instances_not_in_silver"] == 1
    assert _rule(result, "R03")["hard_negative_instances_hit"] == 1
    markdown = (out_dir / "detection.md").read_text()
    assert "(12 rows + 1 in 1 increment(s), seed 7)" in markdown
    assert "| alerts per 1,000 transactions | 416.67 |" in markdown
    assert "| Structuring | R03 | 2 | 1 | 50.0 % | 5 | 40.0 % | (covered) | (covered) |" in markdown
    assert (
        "| Cash_Withdrawal | none in v1 | 1 | 0 | 0.0 % | 2 | 0.0 % | 100.0 % | 50.0 % |"
        in markdown
    )
    assert f"`{result['rules'][2]['param_hash']}`" in markdown


def _args(*argv):
    """The command line as ``aml`` parses it (``--env`` first, then the sub-command)."""
    parser = argparse.ArgumentParser(prog="aml")
    parser.add_argument("--env", default=None)
    evaluate.register(parser.add_subparsers(dest="command"))
    return parser.parse_args(list(argv))


def test_cli_missing_table_exits_2_with_a_clear_message(
    spark, dataset, tmp_path, monkeypatch, caplog
):
    empty = load_config("local").with_lake(tmp_path / "empty-lake")
    monkeypatch.setenv("AML_OVERRIDES", str(empty.write_overrides(tmp_path / "overrides.toml")))
    # the test session stands in for the job's own (a second builder would retune it)
    monkeypatch.setattr("aml.spark.build_session", lambda config, name: spark)
    args = _args("--env", "local", "evaluate", "--data", str(dataset), "--out", str(tmp_path / "r"))

    with caplog.at_level(logging.ERROR):
        assert args.func(args) == 2

    assert "silver.transactions does not exist" in caplog.text
    assert not (tmp_path / "r").exists()


def test_cli_missing_ground_truth_exits_2_before_starting_spark(tmp_path, monkeypatch, caplog):
    def no_session(config, name):
        raise AssertionError("a session was built")

    monkeypatch.setattr("aml.spark.build_session", no_session)
    args = _args("evaluate", "--data", str(tmp_path / "nowhere"))

    with caplog.at_level(logging.ERROR):
        assert evaluate.execute(args) == 2

    assert "no ground_truth.csv in" in caplog.text


def test_malformed_ground_truth_is_a_clear_input_error(spark, tmp_path):
    path = tmp_path / "ground_truth.csv"
    path.write_text("instance_id,laundering_type,transaction_id\n1,Cycle,not-a-number\n")

    with pytest.raises(evaluate.EvaluationInputError, match="line 2"):
        evaluate.read_label_csv(spark, [path], evaluate.GT_SCHEMA)
