"""The account population of normal traffic, and how account numbers are derived.

Accounts are integer indices inside the generator; the 10-digit numbers that appear in the CSV are
computed from (seed, index) with a keyed permutation. That keeps numbers unique without a global
set (increments add accounts by continuing the index) and lets an increment rebuild exactly the
same population from the manifest's seed instead of re-reading ``accounts.csv``.

Realism comes from three per-account tables: an activity weight (who sends), a popularity weight
(who receives), and a small fixed list of usual counterparties. Drawing counterparties from a short
list is what keeps a normal account's distinct-counterparty degree modest (so fan-in/fan-out rules
fire on normal traffic only occasionally, as in real data) while accounts are still re-used.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from aml.generate.domains import FOREIGN_WEIGHTS, UK

# Stream purposes (see :func:`stream`).
P_POPULATION, P_PEOPLE, P_PLAN, P_DAY, P_INCREMENT, P_UPDATES = range(1, 7)

NUMBER_LOW = 10_000_000
NUMBER_SPAN = 9_999_999_999 - NUMBER_LOW + 1  # numbers have 8 to 10 digits, no leading zero
_HALF_BITS = 17  # Feistel network over 34 bits (2**34 > NUMBER_SPAN)
_HALF_MASK = (1 << _HALF_BITS) - 1
COUNTERPARTY_SLOTS = 6
GROUP_SIZE = 4
UK_SHARE = 0.95
FOREIGN_RECEIVER_BOOST = 1.45  # makes ~93 % of receivers UK with 95 % UK accounts


def stream(seed: int, purpose: int, *keys: int) -> np.random.Generator:
    """An independent PCG64 stream for one purpose (and e.g. one day) of one seed.

    Spawn keys instead of one shared generator mean that changing how many numbers one day draws
    never shifts another day's numbers, which is what makes increments and reruns reproducible.
    """
    seq = np.random.SeedSequence(entropy=seed, spawn_key=(purpose, *keys))
    return np.random.Generator(np.random.PCG64(seq))


def _feistel(x: np.ndarray, keys: np.ndarray) -> np.ndarray:
    left = (x >> np.uint64(_HALF_BITS)) & np.uint64(_HALF_MASK)
    right = x & np.uint64(_HALF_MASK)
    for key in keys:
        mixed = (right * np.uint64(0x9E3779B1) + key) & np.uint64(0xFFFFFFFF)
        mixed ^= mixed >> np.uint64(15)
        mixed = (mixed * np.uint64(0x85EBCA6B)) & np.uint64(0xFFFFFFFF)
        left, right = right, left ^ (mixed & np.uint64(_HALF_MASK))
    return (left << np.uint64(_HALF_BITS)) | right


def account_numbers(seed: int, index: np.ndarray) -> np.ndarray:
    """Maps account indices to unique SAML-D style account numbers (int64, 8-10 digits).

    A Feistel network is a bijection on 34-bit integers; cycle-walking restricts it to
    ``[0, NUMBER_SPAN)``, so distinct indices always give distinct numbers.
    """
    keys = stream(seed, P_POPULATION, 999).integers(0, 2**32, size=4, dtype=np.uint64)
    x = _feistel(np.asarray(index, dtype=np.uint64), keys)
    out_of_range = x >= np.uint64(NUMBER_SPAN)
    while out_of_range.any():
        x[out_of_range] = _feistel(x[out_of_range], keys)
        out_of_range = x >= np.uint64(NUMBER_SPAN)
    return x.astype(np.int64) + NUMBER_LOW


@dataclass(frozen=True)
class Population:
    """Normal-traffic accounts ``0 .. size-1`` and the tables traffic is drawn from.

    Attributes:
        loc: bank location index per account (customers' accounts share one location).
        send_cdf: cumulative activity weights, for drawing senders.
        recv_cdf: cumulative popularity weights, for drawing receivers.
        counterparties: ``(size, COUNTERPARTY_SLOTS)`` usual receivers of each account.
        payers: ``(size, COUNTERPARTY_SLOTS)`` usual senders to each account.
        group_perm: permutation whose consecutive blocks of ``GROUP_SIZE`` are account groups.
        group_pos: inverse of ``group_perm`` (an account's position in it).
        base_cents: each account's typical periodic payment.
        customer: customer index (0-based) of each account.
    """

    loc: np.ndarray
    send_cdf: np.ndarray
    recv_cdf: np.ndarray
    counterparties: np.ndarray
    payers: np.ndarray
    group_perm: np.ndarray
    group_pos: np.ndarray
    base_cents: np.ndarray
    customer: np.ndarray

    @property
    def size(self) -> int:
        return int(self.loc.size)

    @property
    def n_customers(self) -> int:
        return int(self.customer[-1]) + 1 if self.size else 0


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights)
    return cdf / cdf[-1]


def draw(cdf: np.ndarray, rng: np.random.Generator, n: int) -> np.ndarray:
    """Draws ``n`` indices with the probabilities a cumulative weight vector encodes."""
    idx = np.searchsorted(cdf, rng.random(n), side="right")
    return np.minimum(idx, cdf.size - 1).astype(np.int64)


def _no_self(table: np.ndarray) -> np.ndarray:
    owner = np.arange(table.shape[0], dtype=table.dtype)[:, None]
    return np.where(table == owner, (owner + 1) % table.shape[0], table)


def _customers(rng: np.random.Generator, size: int) -> np.ndarray:
    """Groups consecutive accounts into customers with 1-3 accounts (70/22/8 %)."""
    per_customer = rng.choice(np.array([1, 2, 3]), size=size, p=[0.70, 0.22, 0.08])
    starts = np.cumsum(per_customer)
    starts = starts[starts < size]
    flags = np.zeros(size, dtype=np.int64)
    flags[starts] = 1
    return np.cumsum(flags)


def build_population(seed: int, size: int) -> Population:
    """Builds the normal-traffic population deterministically from ``seed``.

    Activity is log-normal (sigma 1.0): a heavy but bounded tail of busy accounts, so that the
    busiest account sends roughly 100x the median without becoming a hub that trips every rule.
    """
    if size < 100:
        raise ValueError(f"population too small: {size} accounts")
    rng = stream(seed, P_POPULATION)
    customer = _customers(rng, size)
    n_customers = int(customer[-1]) + 1
    is_uk = rng.random(n_customers) < UK_SHARE
    weights = FOREIGN_WEIGHTS / FOREIGN_WEIGHTS.sum()
    foreign = rng.choice(FOREIGN_WEIGHTS.size, size=n_customers, p=weights)
    loc = np.where(is_uk, UK, foreign).astype(np.int8)[customer]
    activity = rng.lognormal(0.0, 1.0, size)
    popularity = rng.lognormal(0.0, 0.6, size) * np.where(loc == UK, 1.0, FOREIGN_RECEIVER_BOOST)
    send_cdf, recv_cdf = _cdf(activity), _cdf(popularity)
    counterparties = draw(recv_cdf, rng, size * COUNTERPARTY_SLOTS).reshape(size, -1)
    payers = draw(send_cdf, rng, size * COUNTERPARTY_SLOTS).reshape(size, -1)
    base_cents = np.round(rng.lognormal(np.log(900.0), 0.9, size) * 100).astype(np.int64) + 100
    group_perm = rng.permutation(size).astype(np.int32)
    return Population(
        loc=loc,
        send_cdf=send_cdf,
        recv_cdf=recv_cdf,
        counterparties=_no_self(counterparties.astype(np.int32)),
        payers=_no_self(payers.astype(np.int32)),
        group_perm=group_perm,
        group_pos=np.argsort(group_perm).astype(np.int32),
        base_cents=base_cents,
        customer=customer,
    )


def population_size(rows_per_day: float) -> int:
    """Accounts needed for a given daily volume at SAML-D's per-account activity.

    The real file has ~855k accounts for ~29.6k rows a day, i.e. an account appears about 0.07
    times a day; keeping that rate (not the total row count) fixed keeps per-window degrees, and so
    the rules' base rates on normal traffic, the same for a 1-month and a 1-year dataset.
    """
    return max(2_000, int(round(29.0 * rows_per_day)))
