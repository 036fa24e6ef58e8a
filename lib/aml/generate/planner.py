"""Decides what to inject (how many instances of which typology, which hard negatives) and where.

Counts follow SAML-D's mix of laundering rows per typology, scaled to ``laundering_rate * rows``,
with at least one instance of every typology so that even a small dataset exercises every rule and
every uncovered typology (on a 50k-row dataset this lifts the laundering share to ~0.3 %). Every
instance is proven against the reference rule semantics before it is kept; an attempt that misses
(rare, e.g. a compressed shape) is dropped and rebuilt from the same stream, so the plan stays
deterministic.
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable

from aml.generate import negatives, rulecheck, typologies, typologies_extra
from aml.generate.domains import (
    DAY,
    IS_LAUNDERING,
    SUSPICIOUS_ROWS,
    SUSPICIOUS_TYPES,
    TYPOLOGY_RULE,
)
from aml.generate.domains import ltype as ltype_index
from aml.generate.plan import PlanBuilder, Window
from aml.generate.typologies import Labelled

log = logging.getLogger(__name__)

Builder = Callable[[PlanBuilder, Window], Labelled]

BUILDERS: dict[str, Builder] = {
    "Single_large": typologies.single_large,
    "Structuring": typologies.structuring,
    "Smurfing": typologies.smurfing,
    "Fan_In": typologies.fan_in,
    "Layered_Fan_In": typologies.layered_fan_in,
    "Fan_Out": typologies.fan_out,
    "Layered_Fan_Out": typologies.layered_fan_out,
    "Behavioural_Change_1": typologies.behavioural_change_1,
    "Cycle": typologies.cycle,
    "Deposit-Send": typologies.deposit_send,
    "Cash_Withdrawal": typologies_extra.cash_withdrawal,
    "Behavioural_Change_2": typologies_extra.behavioural_change_2,
    "Bipartite": typologies_extra.bipartite,
    "Stacked Bipartite": typologies_extra.stacked_bipartite,
    "Scatter-Gather": typologies_extra.scatter_gather,
    "Gather-Scatter": typologies_extra.gather_scatter,
    "Over-Invoicing": typologies_extra.over_invoicing,
}
# Shapes that need a month of history before the suspicious part.
NEEDS_HISTORY = {"Behavioural_Change_1": 31 * DAY, "Behavioural_Change_2": 31 * DAY}
NEGATIVE_SHARE = 0.5  # hard negatives per rule, relative to the instances that rule should catch
MAX_ATTEMPTS = 50


def _proved(rule: str | None, labelled: Labelled, negative: bool) -> bool:
    txs = [tx for tx, _ in labelled]
    if rule is None:
        return True
    hit = rulecheck.hits(rule, txs)
    if negative:
        return not hit
    suspicious = {i for i, (_, name) in enumerate(labelled) if IS_LAUNDERING[ltype_index(name)]}
    return bool(hit & suspicious)


def inject(b: PlanBuilder, name: str, w: Window) -> int:
    """Adds one proven instance of typology ``name``; returns its number of laundering rows."""
    for _ in range(MAX_ATTEMPTS):
        instance = b.open(laundering_type=name)
        labelled = BUILDERS[name](b, w)
        if _proved(TYPOLOGY_RULE[name], labelled, negative=False):
            for tx, label in labelled:
                b.add(instance, tx, label)
            return sum(1 for _, label in labelled if label == name)
        b.drop(instance)
    raise RuntimeError(f"could not build a {name} instance its rule detects")


def inject_negative(b: PlanBuilder, rule: str, w: Window) -> int:
    """Adds one proven hard negative for ``rule``; returns its row count (0 if none fits)."""
    for _ in range(MAX_ATTEMPTS):
        instance = b.open(rule=rule)
        labelled = negatives.build_negative(b, rule, w)
        if labelled and _proved(rule, labelled, negative=True):
            for tx, label in labelled:
                b.add(instance, tx, label)
            return len(labelled)
        b.drop(instance)
        if not labelled:
            return 0
    raise RuntimeError(f"could not build a hard negative for {rule}")


def fits(name: str, w: Window) -> bool:
    return NEEDS_HISTORY.get(name, 0) <= w.length


def plan_dataset(b: PlanBuilder, rows: int, laundering_rate: float, w: Window) -> Counter[str]:
    """Plans the full dataset's instances into ``b``; returns instances per typology."""
    total_real = sum(SUSPICIOUS_ROWS)
    instances: Counter[str] = Counter()
    for name, real_rows in zip(SUSPICIOUS_TYPES, SUSPICIOUS_ROWS, strict=True):
        if not fits(name, w):
            log.warning(
                "dataset spans %.1f days: skipping %s (needs a month of history)",
                w.length / DAY,
                name,
            )
            continue
        want = laundering_rate * rows * real_rows / total_real
        built = 0
        while instances[name] == 0 or built < want:
            built += inject(b, name, w)
            instances[name] += 1
    _plan_negatives(b, instances, w)
    return instances


def _plan_negatives(b: PlanBuilder, instances: Counter[str], w: Window) -> None:
    per_rule: Counter[str] = Counter()
    for name, count in instances.items():
        if TYPOLOGY_RULE[name]:
            per_rule[TYPOLOGY_RULE[name]] += count
    for rule in sorted(negatives.NEGATIVES):
        for _ in range(max(1, round(NEGATIVE_SHARE * per_rule[rule]))):
            inject_negative(b, rule, w)


def plan_day(
    b: PlanBuilder, rows: int, laundering_rate: float, w: Window, min_instances: int = 3
) -> Counter[str]:
    """Plans one increment day: a rate-sized random mix of typologies that fit in a day."""
    names = [n for n in SUSPICIOUS_TYPES if fits(n, w)]
    weights = [SUSPICIOUS_ROWS[SUSPICIOUS_TYPES.index(n)] for n in names]
    total = sum(weights)
    instances: Counter[str] = Counter()
    built = 0
    while sum(instances.values()) < min_instances or built < laundering_rate * rows:
        name = names[int(b.rng.choice(len(names), p=[x / total for x in weights]))]
        built += inject(b, name, w)
        instances[name] += 1
    rules = [
        rule
        for rule, (_, variants) in sorted(negatives.NEGATIVES.items())
        if any(need <= w.length for _, need in variants)
    ]
    for i in b.rng.permutation(len(rules))[: max(1, sum(instances.values()) // 2)]:
        inject_negative(b, rules[int(i)], w)
    return instances
