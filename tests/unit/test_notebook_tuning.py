"""The detection-quality notebook's helpers that need no Spark: the backtest's side-by-side
tables, the what-if pack of a scored sweep, and the precision/recall plot over the threshold."""

from __future__ import annotations

import io
from decimal import Decimal

import pandas as pd
import pytest
from PIL import Image

from aml.config import Config
from aml.gold import rulepack
from aml.notebooks import plots, tuning


def typology(name: str, rules: list[str], instances: int, detected: int) -> dict:
    return {
        "laundering_type": name,
        "rules": rules,
        "instances": instances,
        "instances_detected": detected,
        "instance_recall": round(detected / instances, 4) if instances else None,
    }


def curve_point(threshold: int, alerts: int, tps: int, recall: float, current: bool) -> dict:
    return {
        "threshold": threshold,
        "alerts": alerts,
        "true_positive_alerts": tps,
        "precision": round(tps / alerts, 4) if alerts else None,
        "instance_recall": recall,
        "min_typology_recall": recall / 2,
        "is_current": current,
    }


CURVE = [
    curve_point(20, 400, 100, 0.9, False),
    curve_point(60, 200, 90, 0.8, False),
    curve_point(80, 120, 80, 0.7, False),  # the same alerts as at 100: one point, one label
    curve_point(100, 120, 80, 0.7, True),
    curve_point(160, 50, 40, 0.4, False),
    curve_point(240, 0, 0, 0.0, False),  # no alert: precision is None, left off the plot
]


def backtest_result() -> dict:
    """What :func:`aml.gold.backtest.backtest` returns, reduced to what the tables read."""
    return {
        "packs": [
            {
                "label": "candidate (v1)",
                "overall": {
                    "silver_transactions": 1000,
                    "total_alerts": 300,
                    "alert_precision": 0.25,
                },
                "typologies": [
                    typology("Structuring", ["R03"], 10, 9),
                    typology("Single_large", ["R01"], 4, 4),
                    typology("Cycle", [], 5, 0),  # no rule: not covered
                    typology("Bipartite", [], 0, 0),  # no instance: left out
                ],
                "threshold_curve": None,
            },
            {
                "label": "published (v2)",
                "overall": {
                    "hard_negative_instances": 7,
                    "silver_transactions": 1000,
                    "total_alerts": 120,
                    "alert_precision": 0.6667,
                },
                "typologies": [
                    typology("Structuring", ["R10"], 10, 8),
                    typology("Single_large", [], 4, 0),
                    typology("Bipartite", ["R22"], 0, 0),
                    typology("Gather-Scatter", ["R24"], 3, 3),
                ],
                "threshold_curve": CURVE,
            },
        ]
    }


def test_backtest_tables_put_the_packs_side_by_side():
    tables = tuning.backtest_tables(backtest_result(), published="published (v2)")
    overall = tables["overall"]
    assert list(overall.columns) == ["metric", "candidate (v1)", "published (v2)"]
    rows = {r[0]: list(r[1:]) for r in overall.itertuples(index=False)}
    assert list(rows) == [
        "silver_transactions", "total_alerts", "alert_precision", "hard_negative_instances",
    ]  # fmt: skip
    assert rows["total_alerts"] == [300, 120]
    assert all(isinstance(v, int) for v in rows["total_alerts"])  # not 300.0 beside ratios
    assert rows["hard_negative_instances"] == [None, 7]

    typologies = tables["typologies"]
    assert list(typologies.columns) == [
        "laundering_type", "instances", "candidate (v1)", "published (v2)",
    ]  # fmt: skip
    by_name = {r[0]: r[1:] for r in typologies.itertuples(index=False)}
    assert list(by_name) == ["Structuring", "Single_large", "Gather-Scatter"]
    assert by_name["Structuring"] == (10, 0.9, 0.8)
    assert by_name["Single_large"][:2] == (4, 1.0) and pd.isna(by_name["Single_large"][2])
    assert by_name["Gather-Scatter"][0] == 3 and pd.isna(by_name["Gather-Scatter"][1])

    curve = tables["curve"]
    assert list(curve.columns) == tuning.CURVE_COLUMNS
    assert curve["threshold"].tolist() == [20, 60, 80, 100, 160, 240]
    assert curve.loc[curve["is_current"], "threshold"].tolist() == [100]


def test_backtest_tables_give_an_empty_curve_for_an_unscored_published_pack():
    tables = tuning.backtest_tables(backtest_result(), published="candidate (v1)")
    assert tables["curve"].empty and list(tables["curve"].columns) == tuning.CURVE_COLUMNS
    with pytest.raises(ValueError, match="no pack labelled 'no such pack'"):
        tuning.backtest_tables(backtest_result(), published="no such pack")


def test_what_if_pack_replaces_one_rule_and_keeps_the_scoring(base_config: Config):
    pack = rulepack.load(base_config, "v2")
    variant, what_if = tuning.what_if_pack(pack, "R18", "min_amount", Decimal("100000"))
    assert variant.param("min_amount") == Decimal("100000")
    assert variant.param_hash != pack.rule("R18").param_hash
    assert what_if.scoring == pack.scoring and what_if.is_scored
    assert [r.id for r in what_if.rules] == [r.id for r in pack.rules]
    assert what_if.rule("R18") is variant
    assert all(what_if.rule(r.id) is r for r in pack.rules if r.id != "R18")
    assert rulepack.fingerprint(what_if) != rulepack.fingerprint(pack)


@pytest.mark.parametrize(
    ("rule_id", "param", "error", "message"),
    [
        ("R01", "amount_gt", KeyError, "has no rule R01; it has R10"),
        ("R18", "amount_gt", KeyError, "has no parameter 'amount_gt'"),
        ("R20", "score", ValueError, "targets no typology"),
    ],
)
def test_sweep_refuses_a_rule_or_parameter_it_cannot_measure(
    base_config: Config, rule_id: str, param: str, error: type, message: str
):
    pack = rulepack.load(base_config, "v2")
    with pytest.raises(error, match=message):
        tuning._sweepable(pack, rule_id, param)
    assert tuning._sweepable(pack, "R18", "min_amount") is pack.rule("R18")


def png(fig) -> Image.Image:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    buffer.seek(0)
    return Image.open(buffer)


def test_threshold_curve_plots_precision_against_recall_with_the_current_threshold_marked():
    shuffled = [CURVE[i] for i in (3, 0, 5, 2, 4, 1)]  # plotted in threshold order
    fig = plots.threshold_curve(pd.DataFrame(shuffled, columns=tuning.CURVE_COLUMNS))
    (ax,) = fig.axes
    assert ax.get_xlabel().startswith("instance recall") and ax.get_ylabel() == "alert precision"
    labels = [text.get_text() for text in ax.texts]
    assert labels == ["20", "60", "80-100 (current)", "160"]  # 240 raises no alert: left off
    (line, current) = ax.get_lines()
    assert list(line.get_xdata()) == [0.9, 0.8, 0.7, 0.7, 0.4]
    assert list(line.get_ydata()) == [0.25, 0.45, 0.6667, 0.6667, 0.8]
    assert (list(current.get_xdata()), list(current.get_ydata())) == ([0.7], [0.6667])
    assert "current threshold (100)" in [t.get_text() for t in ax.get_legend().get_texts()]
    with png(fig) as picture:
        assert picture.format == "PNG"
        colours = picture.convert("RGB").getcolors(maxcolors=1 << 24)
    assert colours is not None and len(colours) > 10


def test_threshold_curve_of_nothing_says_so():
    for df in (pd.DataFrame(columns=tuning.CURVE_COLUMNS), pd.DataFrame(CURVE[-1:])):
        fig = plots.threshold_curve(df)
        assert [t.get_text() for t in fig.axes[0].texts] == ["no thresholds recorded"]
        with png(fig) as picture:
            assert picture.size[0] > 0
