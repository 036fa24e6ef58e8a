"""Builders of the suspicious typologies that a v1 rule is meant to catch (RULES.md).

Each builder lays out one instance inside a window and returns its labelled transactions; the
planner then proves the instance with :mod:`aml.generate.rulecheck` before keeping it. Shapes keep
a safety margin from every rule edge (structuring at 8,100-9,900, windows filled to at most ~80 %,
ratios well inside the bands), so that a reimplementation which differs by a second or a penny at
an edge still detects every instance. Windows shorter than a shape's natural span (one-day
increments) compress the shape; the rule conditions only get easier under compression.
"""

from __future__ import annotations

import numpy as np

from aml.generate.domains import ACH, CASH_IN, CHEQUE, DAY, HOUR, UK
from aml.generate.plan import PlanBuilder, Tx, Window

Labelled = list[tuple[Tx, str]]


def times(b: PlanBuilder, w: Window, n: int, span: int) -> list[int]:
    """``n`` distinct sorted seconds inside one stretch of at most ``span`` in the window."""
    span = min(span, w.length)
    t0 = b.start(w, span)
    offsets = np.sort(b.rng.choice(span + 1, size=n, replace=False))
    return [t0 + int(o) for o in offsets]


def label(txs: list[Tx], name: str) -> Labelled:
    return [(tx, name) for tx in txs]


def single_large(b: PlanBuilder, w: Window) -> Labelled:
    sender = b.account(UK if b.rng.random() < 0.8 else b.foreign_loc())
    n = 1 if b.rng.random() < 0.8 else 2
    txs = []
    for t in times(b, w, n, 3 * DAY):
        receiver = b.account(b.mixed_loc(0.5))
        cents = int(np.clip(b.rng.lognormal(np.log(250_000), 1.0), 20_000, 12_000_000) * 100)
        txs.append(b.transfer(t, sender, receiver, cents))
    return label(txs, "Single_large")


def structuring(b: PlanBuilder, w: Window) -> Labelled:
    """3-6 payments of 8,100-9,900 into one account within 60 h (R03 needs 3 in 72 h)."""
    receiver = b.account(UK)
    senders = b.accounts(int(b.rng.integers(1, 4)), UK)
    n = int(b.rng.integers(3, 7))
    txs = []
    for t in times(b, w, n, 60 * HOUR):
        sender = senders[int(b.rng.integers(len(senders)))]
        ptype = int(b.rng.choice([CASH_IN, ACH, CHEQUE], p=[0.5, 0.3, 0.2]))
        txs.append(Tx(t, sender, receiver, b.cents(8_100, 9_900), ptype))
    return label(txs, "Structuring")


def smurfing(b: PlanBuilder, w: Window) -> Labelled:
    """5-9 cash deposits of 2,200-7,500 from 3-6 people within 5 days (sum >= 11,000)."""
    receiver = b.account(UK)
    n = int(b.rng.integers(5, 10))
    senders = b.accounts(min(n, int(b.rng.integers(3, 7))), UK)
    order = senders + [senders[int(i)] for i in b.rng.integers(0, len(senders), n - len(senders))]
    order = [order[int(i)] for i in b.rng.permutation(n)]
    txs = [
        Tx(t, s, receiver, b.cents(2_200, 7_500), CASH_IN)
        for t, s in zip(times(b, w, n, 5 * DAY), order, strict=True)
    ]
    return label(txs, "Smurfing")


def fan_in(b: PlanBuilder, w: Window) -> Labelled:
    """11-18 distinct senders pay one account within 7 days (R05 needs 10 in 10 days)."""
    receiver = b.account(b.mixed_loc(0.2))
    n = int(b.rng.integers(11, 19))
    senders = [b.account(b.mixed_loc(0.3)) for _ in range(n)]
    txs = [
        b.transfer(t, s, receiver, b.cents(1_000, 9_000))
        for t, s in zip(times(b, w, n, 7 * DAY), senders, strict=True)
    ]
    return label(txs, "Fan_In")


def fan_out(b: PlanBuilder, w: Window) -> Labelled:
    """One account pays 11-18 distinct receivers within 7 days (R06 needs 10 in 10 days)."""
    sender = b.account(b.mixed_loc(0.2))
    n = int(b.rng.integers(11, 19))
    receivers = [b.account(b.mixed_loc(0.4)) for _ in range(n)]
    txs = [
        b.transfer(t, sender, r, b.cents(1_000, 9_000))
        for t, r in zip(times(b, w, n, 7 * DAY), receivers, strict=True)
    ]
    return label(txs, "Fan_Out")


def _layer_times(b: PlanBuilder, w: Window, n: int) -> tuple[list[int], list[int]]:
    """First-hop and second-hop times of ``n`` parallel two-hop paths within 4 days."""
    span = min(4 * DAY, w.length)
    t0 = b.start(w, span)
    first = [t0 + int(x) for x in b.rng.integers(0, span // 2, n)]
    second = [t + int(b.rng.integers(max(span // 20, 60), span // 2)) for t in first]
    return first, second


def layered_fan_in(b: PlanBuilder, w: Window) -> Labelled:
    """2-4 origins -> 11-15 mules -> one collector (R05 on the collector)."""
    origins = [b.account(b.mixed_loc(0.3)) for _ in range(int(b.rng.integers(2, 5)))]
    mules = b.accounts(int(b.rng.integers(11, 16)), UK)
    collector = b.account(b.mixed_loc(0.3))
    first, second = _layer_times(b, w, len(mules))
    txs = []
    for mule, t1, t2 in zip(mules, first, second, strict=True):
        cents = b.cents(2_000, 9_000)
        origin = origins[int(b.rng.integers(len(origins)))]
        txs.append(b.transfer(t1, origin, mule, cents))
        txs.append(b.transfer(t2, mule, collector, int(cents * b.rng.uniform(0.90, 0.98))))
    return label(txs, "Layered_Fan_In")


def layered_fan_out(b: PlanBuilder, w: Window) -> Labelled:
    """One source -> 11-15 mules -> 2-4 beneficiaries (R06 on the source)."""
    source = b.account(b.mixed_loc(0.2))
    mules = b.accounts(int(b.rng.integers(11, 16)), UK)
    beneficiaries = [b.account(b.mixed_loc(0.6)) for _ in range(int(b.rng.integers(2, 5)))]
    first, second = _layer_times(b, w, len(mules))
    txs = []
    for mule, t1, t2 in zip(mules, first, second, strict=True):
        cents = b.cents(2_000, 9_000)
        target = beneficiaries[int(b.rng.integers(len(beneficiaries)))]
        txs.append(b.transfer(t1, source, mule, cents))
        txs.append(b.transfer(t2, mule, target, int(cents * b.rng.uniform(0.90, 0.98))))
    return label(txs, "Layered_Fan_Out")


def behavioural_change_1(b: PlanBuilder, w: Window) -> Labelled:
    """A quiet account (3-8 small payments, labelled normal) suddenly sends >= 15,000 in 2 days.

    History sits in ``[spike - 27d, spike - 9d]``, so for every spike trigger it is inside R07's
    ``[t - 30d, t - 7d)``; the spike total is at least 1.5x the rule's ratio threshold.
    """
    spike0 = int(b.rng.integers(w.lo + 28 * DAY, w.hi - 2 * DAY))
    sender = b.account(UK)
    payees = b.accounts(int(b.rng.integers(1, 3)), UK)
    n_hist = int(b.rng.integers(3, 9))
    hist_window = Window(spike0 - 27 * DAY, spike0 - 9 * DAY)
    history = [
        b.transfer(t, sender, payees[i % len(payees)], b.cents(100, 1_500))
        for i, t in enumerate(times(b, hist_window, n_hist, hist_window.length))
    ]
    hist_cents = sum(tx.cents for tx in history)
    target = max(1_500_000, int(1.5 * 21 * hist_cents / 23) + 1)
    n = int(b.rng.integers(2, 5))
    shares = b.rng.uniform(0.6, 1.4, n)
    parts = np.ceil(shares / shares.sum() * target).astype(np.int64)
    spike = [
        b.transfer(t, sender, b.account(b.mixed_loc(0.5)), int(c))
        for t, c in zip(times(b, Window(spike0, spike0 + 2 * DAY), n, 2 * DAY), parts, strict=True)
    ]
    return label(history, "Normal_Periodical") + label(spike, "Behavioural_Change_1")


def cycle(b: PlanBuilder, w: Window) -> Labelled:
    """A -> B (-> C (-> D)) -> A within 60 h, every leg at 92-100 % of the first (>= 6,000)."""
    k = int(b.rng.choice([2, 3, 4], p=[0.25, 0.5, 0.25]))
    ring = [b.account(UK)] + [b.account(b.mixed_loc(0.3)) for _ in range(k - 1)]
    span = min(60 * HOUR, w.length)
    gaps = b.rng.uniform(0.05, 1.0, k - 1) * span / (k - 1)
    t = b.start(w, span)
    first = b.cents(6_000, 60_000)
    txs = [b.transfer(t, ring[0], ring[1], first)]
    for leg in range(1, k):
        t += max(60, int(gaps[leg - 1]))
        cents = int(first * b.rng.uniform(0.92, 1.0))
        txs.append(b.transfer(t, ring[leg], ring[(leg + 1) % k], cents))
    return label(txs, "Cycle")


def deposit_send(b: PlanBuilder, w: Window) -> Labelled:
    """1-3 cash deposits of 2,000-9,500, each sent on at 85-99 % within 1-48 h (R09)."""
    account = b.account(UK)
    span = min(4 * DAY, w.length)
    t0 = b.start(w, span)
    txs = []
    for _ in range(int(b.rng.integers(1, 4))):
        t1 = t0 + int(b.rng.integers(0, span // 2))
        t2 = t1 + int(b.rng.integers(HOUR, max(HOUR + 1, min(48 * HOUR, span // 2))))
        deposit = b.cents(2_000, 9_500)
        txs.append(Tx(t1, b.account(UK), account, deposit, CASH_IN))
        out = int(deposit * b.rng.uniform(0.85, 0.99))
        txs.append(b.transfer(t2, account, b.account(b.mixed_loc(0.6)), out))
    return label(txs, "Deposit-Send")
