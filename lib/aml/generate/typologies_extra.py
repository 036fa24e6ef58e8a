"""Builders of the suspicious typologies no v1 rule covers.

They are injected so that detection-quality reports can state honestly how much of SAML-D's
laundering the v1 pack misses, and so that later rule versions have something to catch. Shapes
follow the typology names in SAML-D's paper: graphs of mules between sources and beneficiaries,
cash leaving after an inflow, a behaviour change towards high-risk countries, inflated invoices.
They may trip v1 rules by chance (a large over-invoice trips R01); that is not a guarantee.
"""

from __future__ import annotations

import numpy as np

from aml.generate.domains import CASH_OUT, CROSS, DAY, HIGH_RISK_DEST, UK
from aml.generate.plan import PlanBuilder, Tx, Window
from aml.generate.typologies import Labelled, label, times


def _split(b: PlanBuilder, total: int, n: int) -> list[int]:
    shares = b.rng.uniform(0.5, 1.5, n)
    return [max(100, int(x)) for x in shares / shares.sum() * total]


def _halves(b: PlanBuilder, w: Window, span: int) -> tuple[Window, Window]:
    span = min(span, w.length)
    t0 = b.start(w, span)
    return Window(t0, t0 + span // 2), Window(t0 + span // 2 + 1, t0 + span)


def _at(b: PlanBuilder, w: Window) -> int:
    return int(b.rng.integers(w.lo, w.hi + 1))


def cash_withdrawal(b: PlanBuilder, w: Window) -> Labelled:
    """Money arrives by transfer and leaves as 2-5 cash withdrawals within 3 days."""
    account, cash_point = b.account(UK), b.account(UK)
    inflow, outflow = _halves(b, w, 3 * DAY)
    txs = []
    total = 0
    for _ in range(int(b.rng.integers(1, 3))):
        cents = b.cents(5_000, 20_000)
        total += cents
        txs.append(b.transfer(_at(b, inflow), b.account(b.mixed_loc(0.5)), account, cents))
    n_out = int(b.rng.integers(2, 6))
    for cents in _split(b, int(total * b.rng.uniform(0.85, 0.98)), n_out):
        txs.append(Tx(_at(b, outflow), account, cash_point, cents, CASH_OUT))
    return label(txs, "Cash_Withdrawal")


def behavioural_change_2(b: PlanBuilder, w: Window) -> Labelled:
    """A domestic payer (history labelled normal) turns to new high-risk foreign payees."""
    change0 = int(b.rng.integers(w.lo + 26 * DAY, w.hi - 3 * DAY))
    sender = b.account(UK)
    payee = b.account(UK)
    hist_window = Window(change0 - 25 * DAY, change0 - 5 * DAY)
    history = [
        b.transfer(t, sender, payee, b.cents(200, 2_500))
        for t in times(b, hist_window, int(b.rng.integers(3, 7)), hist_window.length)
    ]
    n = int(b.rng.integers(2, 5))
    change = []
    for t in times(b, Window(change0, change0 + 3 * DAY), n, 3 * DAY):
        receiver = b.account(int(b.rng.choice(HIGH_RISK_DEST)))
        change.append(Tx(t, sender, receiver, b.cents(1_500, 8_000), CROSS))
    return label(history, "Normal_Periodical") + label(change, "Behavioural_Change_2")


def _edges(b: PlanBuilder, left: list[int], right: list[int]) -> list[tuple[int, int]]:
    """A dense bipartite edge set in which every node has at least one edge."""
    edges = {(s, r) for s in left for r in right if b.rng.random() < 0.7}
    edges |= {(s, right[int(b.rng.integers(len(right)))]) for s in left}
    edges |= {(left[int(b.rng.integers(len(left)))], r) for r in right}
    return sorted(edges)


def bipartite(b: PlanBuilder, w: Window) -> Labelled:
    senders = b.accounts(int(b.rng.integers(2, 5)), UK)
    receivers = [b.account(b.mixed_loc(0.5)) for _ in range(int(b.rng.integers(2, 5)))]
    edges = _edges(b, senders, receivers)
    txs = [
        b.transfer(t, s, r, b.cents(2_000, 9_000))
        for t, (s, r) in zip(times(b, w, len(edges), 3 * DAY), edges, strict=True)
    ]
    return label(txs, "Bipartite")


def stacked_bipartite(b: PlanBuilder, w: Window) -> Labelled:
    layers = [
        b.accounts(int(b.rng.integers(2, 4)), UK),
        b.accounts(int(b.rng.integers(2, 5)), UK),
        [b.account(b.mixed_loc(0.6)) for _ in range(int(b.rng.integers(2, 4)))],
    ]
    first, second = _halves(b, w, 4 * DAY)
    txs = []
    for (left, right), hop in zip(
        zip(layers[:-1], layers[1:], strict=True), (first, second), strict=True
    ):
        txs += [
            b.transfer(_at(b, hop), s, r, b.cents(2_000, 9_000)) for s, r in _edges(b, left, right)
        ]
    return label(txs, "Stacked Bipartite")


def scatter_gather(b: PlanBuilder, w: Window) -> Labelled:
    """One source scatters to 3-7 mules, who all pay one collector."""
    source, collector = b.account(b.mixed_loc(0.2)), b.account(b.mixed_loc(0.5))
    mules = b.accounts(int(b.rng.integers(3, 8)), UK)
    scatter, gather = _halves(b, w, 3 * DAY)
    txs = []
    for mule, cents in zip(mules, _split(b, b.cents(15_000, 60_000), len(mules)), strict=True):
        txs.append(b.transfer(_at(b, scatter), source, mule, cents))
        txs.append(b.transfer(_at(b, gather), mule, collector, int(cents * 0.95)))
    return label(txs, "Scatter-Gather")


def gather_scatter(b: PlanBuilder, w: Window) -> Labelled:
    """3-7 sources pay one hub, which then pays 3-7 beneficiaries."""
    hub = b.account(UK)
    sources = [b.account(b.mixed_loc(0.3)) for _ in range(int(b.rng.integers(3, 8)))]
    targets = [b.account(b.mixed_loc(0.5)) for _ in range(int(b.rng.integers(3, 8)))]
    gather, scatter = _halves(b, w, 3 * DAY)
    txs = []
    total = 0
    for source in sources:
        cents = b.cents(2_000, 9_000)
        total += cents
        txs.append(b.transfer(_at(b, gather), source, hub, cents))
    for target, cents in zip(targets, _split(b, int(total * 0.95), len(targets)), strict=True):
        txs.append(b.transfer(_at(b, scatter), hub, target, cents))
    return label(txs, "Gather-Scatter")


def over_invoicing(b: PlanBuilder, w: Window) -> Labelled:
    """An importer pays a foreign exporter far more than the goods are worth (trade-based ML)."""
    importer = b.account(UK)
    exporter = b.account(b.foreign_loc(high_risk=0.7))
    n = 1 if b.rng.random() < 0.7 else 2
    txs = []
    for t in times(b, w, n, 10 * DAY):
        cents = int(np.clip(b.rng.lognormal(np.log(60_000), 0.7), 15_000, 900_000) * 100)
        txs.append(b.transfer(t, importer, exporter, cents))
    return label(txs, "Over-Invoicing")
