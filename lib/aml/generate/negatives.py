"""Hard negatives: normal-labelled patterns just under one rule's threshold.

They measure whether an implementation has the edges right (a ``<=`` where RULES.md says ``<``, a
72 h window that is really 73 h). Each is labelled with a normal type (``Is_laundering`` 0), kept
out of ``ground_truth.csv`` and listed in ``hard_negatives.csv`` with the rule it must not fire.
Variants that need more than the available window (e.g. three payments spread over 80 h in a
one-day increment) are skipped there; the planner proves each with the rule oracle.
"""

from __future__ import annotations

from collections.abc import Callable

from aml.generate.domains import ACH, CASH_IN, CASH_OUT, DAY, HOUR, UK
from aml.generate.plan import PlanBuilder, Tx, Window
from aml.generate.typologies import Labelled, label, times

Variant = Callable[[PlanBuilder, Window], list[Tx]]


def _spread(b: PlanBuilder, w: Window, n: int, gap_lo: int, gap_hi: int) -> list[int]:
    """``n`` times with every gap in ``[gap_lo, gap_hi]``."""
    gaps = [int(b.rng.integers(gap_lo, gap_hi + 1)) for _ in range(n - 1)]
    t = b.start(w, sum(gaps))
    out = [t]
    for gap in gaps:
        out.append(out[-1] + gap)
    return out


def r01_just_under(b: PlanBuilder, w: Window) -> list[Tx]:
    cents = 999_999 if b.rng.random() < 0.6 else 1_000_000  # 9,999.99 or exactly 10,000.00
    return [b.transfer(times(b, w, 1, DAY)[0], b.account(UK), b.account(UK), cents)]


def r03_two_only(b: PlanBuilder, w: Window) -> list[Tx]:
    r = b.account(UK)
    return [
        b.transfer(t, b.account(UK), r, b.cents(8_100, 9_900)) for t in times(b, w, 2, 48 * HOUR)
    ]


def r03_out_of_band(b: PlanBuilder, w: Window) -> list[Tx]:
    r, s = b.account(UK), b.account(UK)
    amounts = [
        b.cents(8_100, 9_900),
        b.cents(8_100, 9_900),
        b.cents(7_500, 7_999.99) if b.rng.random() < 0.5 else b.cents(10_000, 10_500),
    ]
    return [b.transfer(t, s, r, c) for t, c in zip(times(b, w, 3, 48 * HOUR), amounts, strict=True)]


def r03_spread(b: PlanBuilder, w: Window) -> list[Tx]:
    r, s = b.account(UK), b.account(UK)
    return [
        b.transfer(t, s, r, b.cents(8_100, 9_900)) for t in _spread(b, w, 3, 40 * HOUR, 46 * HOUR)
    ]


def _deposits(b: PlanBuilder, w: Window, n: int, n_senders: int, lo: float, hi: float) -> list[Tx]:
    r = b.account(UK)
    senders = b.accounts(n_senders, UK)
    return [
        Tx(t, senders[i % n_senders], r, b.cents(lo, hi), CASH_IN)
        for i, t in enumerate(times(b, w, n, 5 * DAY))
    ]


def r04_four(b: PlanBuilder, w: Window) -> list[Tx]:
    return _deposits(b, w, 4, 3, 2_600, 9_000)


def r04_two_people(b: PlanBuilder, w: Window) -> list[Tx]:
    return _deposits(b, w, int(b.rng.integers(5, 7)), 2, 2_200, 7_500)


def r04_small_sum(b: PlanBuilder, w: Window) -> list[Tx]:
    return _deposits(b, w, 5, 3, 1_000, 1_900)


def _fan(b: PlanBuilder, stamps: list[int], inbound: bool) -> list[Tx]:
    hub = b.account(UK)
    txs = []
    for t in stamps:
        other = b.account(b.mixed_loc(0.2))
        s, r = (other, hub) if inbound else (hub, other)
        txs.append(b.transfer(t, s, r, b.cents(500, 8_000)))
    return txs


def r05_nine(b: PlanBuilder, w: Window) -> list[Tx]:
    return _fan(b, times(b, w, 9, 8 * DAY), inbound=True)


def r05_spread(b: PlanBuilder, w: Window) -> list[Tx]:
    return _fan(b, _spread(b, w, int(b.rng.integers(10, 12)), 29 * HOUR, 32 * HOUR), True)


def r06_nine(b: PlanBuilder, w: Window) -> list[Tx]:
    return _fan(b, times(b, w, 9, 8 * DAY), inbound=False)


def r06_spread(b: PlanBuilder, w: Window) -> list[Tx]:
    return _fan(b, _spread(b, w, int(b.rng.integers(10, 12)), 29 * HOUR, 32 * HOUR), False)


def _r07(b: PlanBuilder, w: Window, under_ratio: bool) -> list[Tx]:
    """History then a spike that misses R07 on the ratio (or, else, on the 10,000 floor)."""
    spike0 = int(b.rng.integers(w.lo + 28 * DAY, w.hi - 2 * DAY))
    sender, payee = b.account(UK), b.account(UK)
    hist_at = _spread(
        b, Window(spike0 - 27 * DAY, spike0 - 9 * DAY), 5, 4 * DAY, 4 * DAY + 12 * HOUR
    )
    lo, hi = (3_500, 4_900) if under_ratio else (100, 500)
    history = [b.transfer(t, sender, payee, b.cents(lo, hi)) for t in hist_at]
    hist = sum(tx.cents for tx in history)
    total = int(21 * hist / 23 * b.rng.uniform(0.75, 0.9)) if under_ratio else b.cents(9_000, 9_900)
    n = 2
    stamps = times(b, Window(spike0, spike0 + 2 * DAY), n, 2 * DAY)
    spike = [b.transfer(t, sender, b.account(UK), total // n) for t in stamps]
    return history + spike


def r07_ratio(b: PlanBuilder, w: Window) -> list[Tx]:
    return _r07(b, w, under_ratio=True)


def r07_floor(b: PlanBuilder, w: Window) -> list[Tx]:
    return _r07(b, w, under_ratio=False)


def _ring(b: PlanBuilder, stamps: list[int], ratios: list[float], first_cents: int) -> list[Tx]:
    ring = b.accounts(len(stamps), UK)
    return [
        b.transfer(t, ring[i], ring[(i + 1) % len(ring)], int(first_cents * ratio))
        for i, (t, ratio) in enumerate(zip(stamps, ratios, strict=True))
    ]


def r08_drift(b: PlanBuilder, w: Window) -> list[Tx]:
    drift = b.rng.uniform(0.76, 0.82)
    ratios = [1.0, drift, drift] if b.rng.random() < 0.5 else [1.0, b.rng.uniform(0.95, 1.0), drift]
    return _ring(b, times(b, w, 3, 48 * HOUR), ratios, b.cents(6_000, 30_000))


def r08_slow(b: PlanBuilder, w: Window) -> list[Tx]:
    return _ring(
        b, _spread(b, w, 3, 38 * HOUR, 45 * HOUR), [1.0, 0.97, 0.95], b.cents(6_000, 30_000)
    )


def r08_small(b: PlanBuilder, w: Window) -> list[Tx]:
    return _ring(b, times(b, w, 3, 48 * HOUR), [1.0, 0.98, 0.96], b.cents(4_000, 4_900))


def _pass_through(
    b: PlanBuilder, stamps: list[int], dep: int, ratio: float, ptype: int
) -> list[Tx]:
    account = b.account(UK)
    return [
        Tx(stamps[0], b.account(UK), account, dep, CASH_IN),
        Tx(stamps[1], account, b.account(UK), int(dep * ratio), ptype),
    ]


def r09_low_ratio(b: PlanBuilder, w: Window) -> list[Tx]:
    return _pass_through(
        b, times(b, w, 2, 48 * HOUR), b.cents(2_000, 9_000), b.rng.uniform(0.66, 0.76), ACH
    )


def r09_late(b: PlanBuilder, w: Window) -> list[Tx]:
    return _pass_through(
        b,
        _spread(b, w, 2, 76 * HOUR, 90 * HOUR),
        b.cents(2_000, 9_000),
        b.rng.uniform(0.85, 0.99),
        ACH,
    )


def r09_small(b: PlanBuilder, w: Window) -> list[Tx]:
    return _pass_through(
        b, times(b, w, 2, 24 * HOUR), b.cents(700, 990), b.rng.uniform(0.9, 0.99), ACH
    )


def r09_cash_out(b: PlanBuilder, w: Window) -> list[Tx]:
    return _pass_through(
        b, times(b, w, 2, 24 * HOUR), b.cents(2_000, 9_000), b.rng.uniform(0.9, 0.99), CASH_OUT
    )


# rule -> (normal label, [(variant, minimum window it needs in seconds)])
NEGATIVES: dict[str, tuple[str, list[tuple[Variant, int]]]] = {
    "R01": ("Normal_single_large", [(r01_just_under, 0)]),
    "R03": ("Normal_Fan_In", [(r03_two_only, 0), (r03_out_of_band, 0), (r03_spread, 93 * HOUR)]),
    "R04": ("Normal_Cash_Deposits", [(r04_four, 0), (r04_two_people, 0), (r04_small_sum, 0)]),
    "R05": ("Normal_Fan_In", [(r05_nine, 0), (r05_spread, 14 * DAY)]),
    "R06": ("Normal_Fan_Out", [(r06_nine, 0), (r06_spread, 14 * DAY)]),
    "R07": ("Normal_Periodical", [(r07_ratio, 31 * DAY), (r07_floor, 31 * DAY)]),
    "R08": ("Normal_Plus_Mutual", [(r08_drift, 0), (r08_slow, 91 * HOUR), (r08_small, 0)]),
    "R09": (
        "Normal_Foward",
        [(r09_low_ratio, 0), (r09_late, 91 * HOUR), (r09_small, 0), (r09_cash_out, 0)],
    ),
}


def build_negative(b: PlanBuilder, rule: str, w: Window) -> Labelled:
    """One hard negative for ``rule`` from a variant that fits the window."""
    name, variants = NEGATIVES[rule]
    usable = [v for v, need in variants if need <= w.length]
    if not usable:
        return []
    variant = usable[int(b.rng.integers(len(usable)))]
    return label(variant(b, w), name)
