"""The backtest report as markdown: packs side by side, then each pack's own detail.

Pure Python over the dict :func:`aml.gold.backtest.backtest` returns, so its wording is tested
without a session.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.gold.evaluate_report import _num, _table, pct


def _overall_rows(packs: list[Mapping[str, Any]]) -> list[list[str]]:
    def row(name: str, cell) -> list[str]:
        return [name, *[cell(p["overall"]) for p in packs]]

    def negatives(o: Mapping[str, Any]) -> str:
        if o.get("hard_negative_instances") is None:
            return "n/a"
        return (
            f"{o['hard_negative_instances_alerted']} / {o['hard_negative_instances']} "
            f"({pct(o['hard_negative_share_alerted'])})"
        )

    return [
        row("silver transactions", lambda o: _num(o["silver_transactions"])),
        row("rule hits (transaction, rule)", lambda o: _num(o["total_hits"])),
        row("alerts", lambda o: _num(o["total_alerts"])),
        row("alerts per 1,000 transactions", lambda o: _num(o["alerts_per_1000_transactions"])),
        row("alert precision", lambda o: pct(o["alert_precision"])),
        row("true-positive alerts", lambda o: _num(o["true_positive_alerts"])),
        row("laundering transactions caught", lambda o: pct(o["laundering_share_hit"])),
        row("hard-negative instances alerted", negatives),
    ]


def _typology_rows(packs: list[Mapping[str, Any]]) -> list[list[str]]:
    names = list(dict.fromkeys(t["laundering_type"] for p in packs for t in p["typologies"]))
    rows = []
    for name in names:
        cells = [name]
        instances = None
        for pack in packs:
            t = next((t for t in pack["typologies"] if t["laundering_type"] == name), None)
            if t is None or not t["rules"]:
                cells.append("not covered")
                instances = instances or (t["instances"] if t else None)
                continue
            instances = t["instances"]
            cells.append(
                f"{pct(t['instance_recall'])} ({t['instances_detected']}) via "
                + ", ".join(t["rules"])
            )
        if not instances:
            continue
        rows.append([cells[0], _num(instances), *cells[1:]])
    return rows


def _rule_rows(pack: Mapping[str, Any]) -> list[list[str]]:
    return [
        [
            r["rule_id"],
            r["name"] or "(not in pack)",
            f"`{r['param_hash']}`" if r["param_hash"] else "n/a",
            _num(r["hits"]),
            _num(r["alerts"]),
            pct(r["alert_precision"]),
        ]
        for r in pack["rules"]
    ]


def _curve_rows(curve: list[Mapping[str, Any]]) -> list[list[str]]:
    return [
        [
            f"**{c['threshold']}** (current)" if c["is_current"] else str(c["threshold"]),
            _num(c["alerts"]),
            pct(c["precision"]),
            pct(c["instance_recall"]),
            pct(c["min_typology_recall"]),
        ]
        for c in curve
    ]


def _label(pack: Mapping[str, Any]) -> str:
    """``candidate (v1): v1`` says the pack twice; a label that is the version says it once."""
    version = f"v{pack['rule_pack']['version']}"
    return version if pack["label"] == version else f"{pack['label']}: {version}"


def render_markdown(result: Mapping[str, Any]) -> str:
    packs = result["packs"]
    data = result["dataset"]
    period = result["period"]
    labels = [_label(p) for p in packs]
    lines = [
        "# Backtest: rule packs side by side",
        "",
        f"- Generated: {result['generated_at']}",
        f"- Dataset (ground truth): `{data['path']}` (seed {data.get('seed')})",
        f"- Silver version: {result['silver_version']}; period: "
        f"{period['from'] or 'start'} to {period['to'] or 'end'}",
        "- Nothing was published: hits and alerts were computed in memory.",
        "",
        "## All alerts",
        "",
    ]
    lines += _table(["measure", *labels], _overall_rows(packs))
    lines += [
        "",
        "## Instance recall per typology",
        "",
        "An instance is detected when one of its transactions is hit by a rule meant for its "
        "typology (for a scored pack: a hit that is evidence of a raised alert).",
        "",
    ]
    lines += _table(["typology", "instances", *labels], _typology_rows(packs))
    for pack in packs:
        lines += ["", f"## Rules of {_label(pack)}", ""]
        lines += [
            "Alerts: the alerts the rule contributes to (a scored alert counts for each rule of "
            "its score breakdown).",
            "",
        ]
        lines += _table(
            ["rule", "name", "param hash", "hits", "alerts", "alert precision"], _rule_rows(pack)
        )
        if pack.get("threshold_curve"):
            lines += [
                "",
                f"### Alert threshold curve of {_label(pack)}",
                "",
                "What each threshold on the period score would have raised on the same hits.",
                "",
            ]
            lines += _table(
                ["threshold", "alerts", "precision", "instance recall", "lowest typology recall"],
                _curve_rows(pack["threshold_curve"]),
            )
    return "\n".join(lines) + "\n"
