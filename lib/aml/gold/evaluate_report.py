"""The detection report of ``aml evaluate``: small collected counts into one dict, and markdown.

Pure Python on what Spark already aggregated (a row per typology and per rule), so the report's
shape and wording are tested without a session. The JSON holds fractions to 4 decimals (``None``
when nothing was there to measure, never a misleading 0); the markdown shows them as percentages
to 1 decimal.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aml.generate.domains import TYPOLOGY_RULE
from aml.gold.rulepack import RulePack

# The typologies of the RULES.md table, in its order: each is reported even when absent.
RULES_MD_TYPOLOGIES = tuple(TYPOLOGY_RULE)
TYPOLOGY_COUNTS = (
    "instances",
    "instances_not_in_silver",
    "instances_detected",
    "instances_hit_by_any_rule",
    "transactions",
    "transactions_detected",
    "transactions_hit_by_any_rule",
)
Counts = Mapping[str, Mapping[str, int]]


def coverage(pack: RulePack) -> dict[str, list[str]]:
    """Typology -> ids of the *enabled* rules meant to catch it (a disabled rule hits nothing)."""
    covered: dict[str, list[str]] = {}
    for rule in pack.enabled:
        for typology in rule.typologies:
            covered.setdefault(typology, []).append(rule.id)
    return covered


def ratio(numerator: int, denominator: int) -> float | None:
    """A fraction to 4 decimals; ``None`` (not 0) when there is nothing to measure."""
    return round(numerator / denominator, 4) if denominator else None


def typology_rows(counts: Counts, pack: RulePack) -> list[dict[str, Any]]:
    """One row per typology: those the pack maps (in rule order), then the rest of the RULES.md
    table, then any other type in the ground truth; absent ones with zero instances.

    ``any_rule`` (recall by any rule at all) is given only for typologies no enabled rule
    covers: for a covered one it would flatter the pack with hits its rules were not meant for.
    """
    covered = coverage(pack)
    ordered = [t for rule in pack.rules for t in rule.typologies]
    ordered += [*RULES_MD_TYPOLOGIES, *sorted(t for t in counts if t is not None)]
    rows = []
    for typology in dict.fromkeys(ordered):
        c = {name: 0 for name in TYPOLOGY_COUNTS} | dict(counts.get(typology, {}))
        rules = covered.get(typology, [])
        row: dict[str, Any] = {
            "laundering_type": typology,
            "rules": rules,
            "disabled_rules": [
                r.id for r in pack.rules if not r.enabled and typology in r.typologies
            ],
            "instances": c["instances"],
            "instances_detected": c["instances_detected"],
            "instance_recall": ratio(c["instances_detected"], c["instances"]),
            "transactions": c["transactions"],
            "transactions_detected": c["transactions_detected"],
            "transaction_recall": ratio(c["transactions_detected"], c["transactions"]),
            "instances_not_in_silver": c["instances_not_in_silver"],
            "any_rule": None,
        }
        if not rules:
            row["any_rule"] = {
                "instances_hit": c["instances_hit_by_any_rule"],
                "instance_recall": ratio(c["instances_hit_by_any_rule"], c["instances"]),
                "transactions_hit": c["transactions_hit_by_any_rule"],
                "transaction_recall": ratio(c["transactions_hit_by_any_rule"], c["transactions"]),
            }
        rows.append(row)
    return rows


def rule_rows(pack: RulePack, counts: Counts, negatives: Counts | None) -> list[dict[str, Any]]:
    """One row per rule of the pack, then any rule id found in gold but not in the pack (an
    older pack's hits: shown rather than silently dropped). ``negatives`` is ``None`` when the
    dataset has no hard_negatives.csv, and the hard-negative fields are then ``None`` too."""
    known = {rule.id: rule for rule in pack.rules}
    ids = list(known) + sorted(set(counts).union(negatives or {}) - set(known))
    rows = []
    for rule_id in ids:
        rule = known.get(rule_id)
        c = counts.get(rule_id, {})
        alerts, true_positives = c.get("alerts", 0), c.get("true_positive_alerts", 0)
        row: dict[str, Any] = {
            "rule_id": rule_id,
            "name": rule.name if rule else None,
            "version": rule.version if rule else None,
            "enabled": rule.enabled if rule else None,
            "param_hash": rule.param_hash if rule else None,
            "typologies": list(rule.typologies) if rule else [],
            "hits": c.get("hits", 0),
            "alerts": alerts,
            "true_positive_alerts": true_positives,
            "alert_precision": ratio(true_positives, alerts),
            "hard_negative_instances": None,
            "hard_negative_instances_hit": None,
        }
        if negatives is not None:
            hn = negatives.get(rule_id, {})
            row["hard_negative_instances"] = hn.get("hard_negative_instances", 0)
            row["hard_negative_instances_hit"] = hn.get("hard_negative_instances_hit", 0)
        rows.append(row)
    return rows


def overall(
    labels: Mapping[str, int],
    per_rule: Counts,
    alert_totals: Mapping[str, int] | None = None,
    hard_negatives: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """Totals over all alerts, and the label-based transaction view.

    ``alert_totals`` (``alerts``, ``true_positive_alerts``) counts each alert once; without it
    the per-rule counts are summed, which is the same for v1 (an alert has one rule) but would
    count a scored alert once per contributing rule. ``hard_negatives`` (``instances``,
    ``instances_alerted``): hard-negative instances any alert's evidence touches.
    """
    transactions = labels["transactions"]
    if alert_totals is None:
        alerts = sum(c.get("alerts", 0) for c in per_rule.values())
        true_positives = sum(c.get("true_positive_alerts", 0) for c in per_rule.values())
    else:
        alerts, true_positives = alert_totals["alerts"], alert_totals["true_positive_alerts"]
    negatives = {}
    if hard_negatives is not None:
        negatives = {
            "hard_negative_instances": hard_negatives["instances"],
            "hard_negative_instances_alerted": hard_negatives["instances_alerted"],
            "hard_negative_share_alerted": ratio(
                hard_negatives["instances_alerted"], hard_negatives["instances"]
            ),
        }
    return {
        **negatives,
        "silver_transactions": transactions,
        "transactions_hit": labels["transactions_hit"],
        "total_hits": sum(c.get("hits", 0) for c in per_rule.values()),
        "total_alerts": alerts,
        "true_positive_alerts": true_positives,
        "alert_precision": ratio(true_positives, alerts),
        "alerts_per_1000_transactions": (
            round(1000 * alerts / transactions, 4) if transactions else None
        ),
        "laundering_transactions": labels["laundering_transactions"],
        "laundering_transactions_hit": labels["laundering_transactions_hit"],
        "laundering_share_hit": ratio(
            labels["laundering_transactions_hit"], labels["laundering_transactions"]
        ),
    }


# --- markdown ------------------------------------------------------------------------------------


def pct(fraction: float | None) -> str:
    return "n/a" if fraction is None else f"{100 * fraction:.1f} %"


def _num(value: int | float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:,.2f}" if isinstance(value, float) else f"{value:,}"


def _table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    return lines + ["| " + " | ".join(cells) + " |" for cells in rows]


def _rules_cell(row: Mapping[str, Any], pack_version: str) -> str:
    if row["rules"]:
        return ", ".join(row["rules"])
    disabled = row["disabled_rules"]
    return (
        f"none enabled ({', '.join(disabled)} disabled)" if disabled else f"none in v{pack_version}"
    )


def _provenance(report: Mapping[str, Any]) -> list[str]:
    data, pack = report["dataset"], report["rule_pack"]
    rows = f"{_num(data.get('rows'))} rows"
    if data.get("increments"):
        rows += f" + {_num(data.get('increment_rows'))} in {data['increments']} increment(s)"
    seed = f"seed {data['seed']}" if data.get("seed") is not None else "seed unknown"
    return [
        f"- Generated: {report['generated_at']}",
        f"- Dataset: `{data['path']}` ({rows}, {seed})",
        f"- Rule pack: `{pack['name']}` version {pack['version']} (parameter hashes: per rule)",
        f"- Ground truth instances not (yet) in silver, left out of recall: "
        f"{sum(t['instances_not_in_silver'] for t in report['typologies'])}",
    ]


TYPOLOGY_HEADER = [
    "typology",
    "rules",
    "instances",
    "detected",
    "instance recall",
    "transactions",
    "transaction recall",
    "any rule: instance recall",
    "any rule: transaction recall",
]
RULE_HEADER = [
    "rule",
    "name",
    "version",
    "param hash",
    "hits",
    "alerts",
    "alert precision",
    "hard negatives hit",
]


def _typology_cells(t: Mapping[str, Any], pack_version: str) -> list[str]:
    any_rule = t["any_rule"]
    return [
        t["laundering_type"],
        _rules_cell(t, pack_version),
        _num(t["instances"]),
        _num(t["instances_detected"]),
        pct(t["instance_recall"]),
        _num(t["transactions"]),
        pct(t["transaction_recall"]),
        pct(any_rule["instance_recall"]) if any_rule else "(covered)",
        pct(any_rule["transaction_recall"]) if any_rule else "(covered)",
    ]


def _rule_cells(r: Mapping[str, Any]) -> list[str]:
    negatives = r["hard_negative_instances"]
    return [
        r["rule_id"] + (" (disabled)" if r["enabled"] is False else ""),
        r["name"] or "(not in pack)",
        _num(r["version"]),
        f"`{r['param_hash']}`" if r["param_hash"] else "n/a",
        _num(r["hits"]),
        _num(r["alerts"]),
        pct(r["alert_precision"]),
        "n/a" if negatives is None else f"{r['hard_negative_instances_hit']} / {negatives}",
    ]


def render_markdown(report: Mapping[str, Any]) -> str:
    """The report as readable markdown: provenance, totals, per typology, per rule."""
    o, version = report["overall"], report["rule_pack"]["version"]
    scored = bool(report["rule_pack"].get("scored"))
    caught = "in an alert" if scored else "hit by any rule"
    lines = ["# Detection quality", "", *_provenance(report), "", "## All alerts", ""]
    rows = [
        ["silver transactions", _num(o["silver_transactions"])],
        ["hits (transaction, rule)", _num(o["total_hits"])],
        [f"transactions {caught}", _num(o["transactions_hit"])],
        ["alerts", _num(o["total_alerts"])],
        ["alerts per 1,000 transactions", _num(o["alerts_per_1000_transactions"])],
        ["alert precision (alerts with a laundering transaction)", pct(o["alert_precision"])],
        ["laundering transactions (labels)", _num(o["laundering_transactions"])],
        [f"laundering transactions {caught}", pct(o["laundering_share_hit"])],
    ]
    if o.get("hard_negative_instances") is not None:
        rows.append(
            [
                "hard-negative instances alerted (any alert)",
                f"{o['hard_negative_instances_alerted']} / {o['hard_negative_instances']} "
                f"({pct(o['hard_negative_share_alerted'])})",
            ]
        )
    lines += _table(["measure", "value"], rows)
    detected = "in an alert through" if scored else "hit by"
    lines += ["", f"## Per typology (ground truth; detected = {detected} one of its own rules)", ""]
    lines += _table(TYPOLOGY_HEADER, [_typology_cells(t, version) for t in report["typologies"]])
    lines += [
        "",
        '"Any rule" is given only for typologies no enabled rule is meant to catch: hits by '
        "rules built for other patterns, reported for honesty, not as coverage.",
        "",
        "## Per rule",
        "",
    ]
    lines += _table(RULE_HEADER, [_rule_cells(r) for r in report["rules"]])
    return "\n".join(lines) + "\n"
