"""One day of normal (non-laundering) traffic, vectorised.

Each of SAML-D's 11 normal types is a way of picking (sender, receiver, amount, payment type) from
the population's tables; the day's row count is split across types by their real shares with one
multinomial draw. Amount scales are set so the whole file lands near SAML-D's statistics (mean
~8.7k, median ~6.1k, cash deposits ~1.9k, withdrawals ~180) and every normal amount stays below 1M.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from aml.generate.domains import (
    CASH_IN,
    CASH_OUT,
    CROSS,
    DAY,
    DOMESTIC_TYPES,
    HOUR,
    HOUR_WEIGHTS,
    NORMAL_SHARES,
    NORMAL_TYPES,
)
from aml.generate.population import COUNTERPARTY_SLOTS, GROUP_SIZE, Population, draw
from aml.generate.rows import Rows

MAX_NORMAL_CENTS = 99_999_999  # 999,999.99: "normal rows stay below 1M"
MIN_CENTS = 101

Picked = tuple[np.ndarray, np.ndarray, np.ndarray]  # sender, receiver, cents


def _lognormal_cents(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    cents = np.round(rng.lognormal(np.log(median * 100.0), sigma, n))
    return np.clip(cents, MIN_CENTS, MAX_NORMAL_CENTS).astype(np.int64)


def _slot(rng: np.random.Generator, n: int, slots: int) -> np.ndarray:
    return rng.integers(0, slots, size=n)


def _maybe_swap(rng: np.random.Generator, s: np.ndarray, r: np.ndarray) -> tuple[np.ndarray, ...]:
    swap = rng.random(s.size) < 0.5
    return np.where(swap, r, s), np.where(swap, s, r)


def _fan_out(pop: Population, rng: np.random.Generator, n: int, slots: int) -> Picked:
    s = draw(pop.send_cdf, rng, n)
    r = pop.counterparties[s, _slot(rng, n, slots)]
    return s, r, _lognormal_cents(rng, 6_850, 0.8, n)


def _small_fan_out(pop: Population, rng: np.random.Generator, n: int) -> Picked:
    return _fan_out(pop, rng, n, 3)


def _wide_fan_out(pop: Population, rng: np.random.Generator, n: int) -> Picked:
    return _fan_out(pop, rng, n, COUNTERPARTY_SLOTS)


def _fan_in(pop: Population, rng: np.random.Generator, n: int) -> Picked:
    r = draw(pop.recv_cdf, rng, n)
    s = pop.payers[r, _slot(rng, n, COUNTERPARTY_SLOTS)]
    return s, r, _lognormal_cents(rng, 6_850, 0.8, n)


def _group(pop: Population, rng: np.random.Generator, n: int) -> Picked:
    s = draw(pop.send_cdf, rng, n)
    pos = pop.group_pos[s].astype(np.int64)
    offset = (pos % GROUP_SIZE + 1 + _slot(rng, n, GROUP_SIZE - 1)) % GROUP_SIZE
    r = pop.group_perm[(pos - pos % GROUP_SIZE + offset) % pop.size]
    r = np.where(r == s, pop.counterparties[s, 0], r)
    return s, r, _lognormal_cents(rng, 4_500, 0.8, n)


def _cash_withdrawal(pop: Population, rng: np.random.Generator, n: int) -> Picked:
    s = draw(pop.send_cdf, rng, n)
    return s, pop.counterparties[s, 0], _lognormal_cents(rng, 180, 0.8, n)


def _cash_deposit(pop: Population, rng: np.random.Generator, n: int) -> Picked:
    r = draw(pop.send_cdf, rng, n)
    return pop.payers[r, 0], r, _lognormal_cents(rng, 1_900, 0.7, n)


def _periodical(pop: Population, rng: np.random.Generator, n: int) -> Picked:
    s = draw(pop.send_cdf, rng, n)
    jitter = rng.uniform(0.97, 1.03, n)
    cents = np.clip(np.round(pop.base_cents[s] * jitter), MIN_CENTS, MAX_NORMAL_CENTS)
    return s, pop.counterparties[s, 0], cents.astype(np.int64)


def _mutual(pop: Population, rng: np.random.Generator, n: int) -> Picked:
    s = draw(pop.send_cdf, rng, n)
    s, r = _maybe_swap(rng, s, pop.counterparties[s, 0])
    return s, r, _lognormal_cents(rng, 4_000, 0.8, n)


def _plus_mutual(pop: Population, rng: np.random.Generator, n: int) -> Picked:
    s = draw(pop.send_cdf, rng, n)
    s, r = _maybe_swap(rng, s, pop.counterparties[s, 1])
    return s, r, _lognormal_cents(rng, 8_000, 0.8, n)


def _single_large(pop: Population, rng: np.random.Generator, n: int) -> Picked:
    s = draw(pop.send_cdf, rng, n)
    r = pop.counterparties[s, _slot(rng, n, COUNTERPARTY_SLOTS)]
    cents = np.clip(_lognormal_cents(rng, 60_000, 0.8, n), 1_500_000, MAX_NORMAL_CENTS)
    return s, r, cents


# Types picked row by row (Normal_Foward is handled as pairs by ``_forward``).
_PICKERS: dict[str, Callable[[Population, np.random.Generator, int], Picked]] = {
    "Normal_Small_Fan_Out": _small_fan_out,
    "Normal_Fan_Out": _wide_fan_out,
    "Normal_Fan_In": _fan_in,
    "Normal_Group": _group,
    "Normal_Cash_Withdrawal": _cash_withdrawal,
    "Normal_Cash_Deposits": _cash_deposit,
    "Normal_Periodical": _periodical,
    "Normal_Plus_Mutual": _plus_mutual,
    "Normal_Mutual": _mutual,
    "Normal_single_large": _single_large,
}


def _times(rng: np.random.Generator, n: int) -> np.ndarray:
    hours = rng.choice(HOUR_WEIGHTS.size, size=n, p=HOUR_WEIGHTS)
    return hours * HOUR + rng.integers(0, HOUR, size=n)


def _forward(pop: Population, rng: np.random.Generator, pairs: int) -> tuple[np.ndarray, ...]:
    """Normal_Foward: A pays B, and B passes most of it on to its own usual payee later that day."""
    a = draw(pop.send_cdf, rng, pairs)
    b = pop.counterparties[a, 0].astype(np.int64)
    c = pop.counterparties[b, 0].astype(np.int64)
    c = np.where(c == a, pop.counterparties[b, 1], c)
    first = _lognormal_cents(rng, 5_000, 0.8, pairs)
    second = np.maximum(np.round(first * rng.uniform(0.5, 0.95, pairs)), MIN_CENTS)
    t1 = rng.integers(0, DAY - 2 * HOUR, size=pairs)
    t2 = np.minimum(t1 + rng.integers(600, 6 * HOUR, size=pairs), DAY - 1)
    return (
        np.concatenate([a, b]),
        np.concatenate([b, c]),
        np.concatenate([first, second.astype(np.int64)]),
        np.concatenate([t1, t2]),
    )


def normal_day(pop: Population, rng: np.random.Generator, n: int, day: int) -> Rows:
    """Generates ``n`` normal rows on day ``day`` (unsorted; the caller merges and sorts)."""
    counts = rng.multinomial(n, NORMAL_SHARES)
    fwd_index = NORMAL_TYPES.index("Normal_Foward")
    pairs = int(counts[fwd_index]) // 2
    counts[NORMAL_TYPES.index("Normal_Small_Fan_Out")] += counts[fwd_index] - 2 * pairs
    senders, receivers, cents, ltypes, secs, ptypes = [], [], [], [], [], []
    for index, name in enumerate(NORMAL_TYPES):
        if name == "Normal_Foward":
            s, r, c, t = _forward(pop, rng, pairs)
        else:
            s, r, c = _PICKERS[name](pop, rng, int(counts[index]))
            t = _times(rng, s.size)
            if name == "Normal_Periodical":  # same time of day every time, give or take minutes
                t = (s * 2_654_435_761 % (DAY - 2 * HOUR) + rng.integers(0, HOUR, s.size)) % DAY
        if name == "Normal_Cash_Withdrawal":
            p = np.full(s.size, CASH_OUT)
        elif name == "Normal_Cash_Deposits":
            p = np.full(s.size, CASH_IN)
        else:
            p = np.asarray(DOMESTIC_TYPES)[rng.integers(0, len(DOMESTIC_TYPES), s.size)]
        senders.append(s)
        receivers.append(r)
        cents.append(c)
        secs.append(t)
        ptypes.append(p)
        ltypes.append(np.full(s.size, index))
    s, r = np.concatenate(senders), np.concatenate(receivers)
    sloc, rloc = pop.loc[s], pop.loc[r]
    p = np.concatenate(ptypes)
    p = np.where((sloc != rloc) & (p != CASH_IN) & (p != CASH_OUT), CROSS, p)
    return Rows.from_columns(
        sec=np.concatenate(secs) + day * DAY,
        sender=s,
        receiver=r,
        cents=np.concatenate(cents),
        ptype=p,
        ltype=np.concatenate(ltypes),
        sloc=sloc,
        rloc=rloc,
        tag=np.zeros(s.size),
    )
