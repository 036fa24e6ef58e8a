"""Pure-Python reference semantics of rules R01 and R03-R09 (RULES.md), for small inputs.

The generator uses these to prove each planned instance before it is kept: a suspicious instance
must be hit by its rule, a hard negative must not be. Because instances use fresh accounts, the
instance's own rows are the subject's whole history, so the check made at plan time is the check
the gold layer will make on the full data. Tests reuse them as an oracle on the written CSV. They
are quadratic in a subject's window size and meant for instances and test data, not production.

All amounts are integer pence, so every threshold and ratio is compared exactly.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Callable, Sequence

from aml.generate.domains import CASH_IN, CASH_OUT, DAY, HOUR
from aml.generate.plan import Tx

Hits = set[int]


def _groups(
    txs: Sequence[Tx], subject: Callable[[Tx], int], keep: Callable[[Tx], bool]
) -> dict[int, list[int]]:
    groups: dict[int, list[int]] = defaultdict(list)
    for i, tx in enumerate(txs):
        if keep(tx):
            groups[subject(tx)].append(i)
    for members in groups.values():
        members.sort(key=lambda i: txs[i].sec)
    return groups


def _window_rule(
    txs: Sequence[Tx],
    subject: Callable[[Tx], int],
    keep: Callable[[Tx], bool],
    window: int,
    condition: Callable[[list[Tx]], bool],
) -> Hits:
    """Flag-all trailing-window rule: every qualifying row in a satisfied window is a hit."""
    hits: Hits = set()
    for members in _groups(txs, subject, keep).values():
        secs = [txs[i].sec for i in members]
        for t in secs:
            inside = members[bisect_left(secs, t - window) : bisect_right(secs, t)]
            if condition([txs[i] for i in inside]):
                hits.update(inside)
    return hits


def r01(txs: Sequence[Tx]) -> Hits:
    return {i for i, tx in enumerate(txs) if tx.cents > 1_000_000}


def r03(txs: Sequence[Tx]) -> Hits:
    return _window_rule(
        txs,
        lambda t: t.receiver,
        lambda t: 800_000 <= t.cents < 1_000_000,
        72 * HOUR,
        lambda w: len(w) >= 3,
    )


def r04(txs: Sequence[Tx]) -> Hits:
    def condition(w: list[Tx]) -> bool:
        return (
            len(w) >= 5 and len({t.sender for t in w}) >= 3 and sum(t.cents for t in w) >= 1_000_000
        )

    return _window_rule(
        txs,
        lambda t: t.receiver,
        lambda t: t.ptype == CASH_IN and t.cents < 1_000_000,
        7 * DAY,
        condition,
    )


def r05(txs: Sequence[Tx]) -> Hits:
    return _window_rule(
        txs,
        lambda t: t.receiver,
        lambda t: True,
        10 * DAY,
        lambda w: len({t.sender for t in w}) >= 10,
    )


def r06(txs: Sequence[Tx]) -> Hits:
    return _window_rule(
        txs,
        lambda t: t.sender,
        lambda t: True,
        10 * DAY,
        lambda w: len({t.receiver for t in w}) >= 10,
    )


def r07(txs: Sequence[Tx]) -> Hits:
    """Velocity spike; ``v7 > 3 * (hist / 23 * 7)`` is evaluated as ``23 * v7 > 21 * hist``."""
    hits: Hits = set()
    for members in _groups(txs, lambda t: t.sender, lambda t: True).values():
        secs = [txs[i].sec for i in members]
        for t in secs:
            spike = members[bisect_left(secs, t - 7 * DAY) : bisect_right(secs, t)]
            hist = members[bisect_left(secs, t - 30 * DAY) : bisect_left(secs, t - 7 * DAY)]
            v7 = sum(txs[i].cents for i in spike)
            base = sum(txs[i].cents for i in hist)
            if len(hist) >= 3 and v7 >= 1_000_000 and 23 * v7 > 21 * base:
                hits.update(spike)
    return hits


def r08(txs: Sequence[Tx]) -> Hits:
    """Round trips of 2-4 legs within 72 h, each leg within [0.85, 1.15] of the first."""
    outgoing = _groups(txs, lambda t: t.sender, lambda t: True)
    hits: Hits = set()

    def extend(first: Tx, path: list[int], seen: set[int]) -> None:
        last = txs[path[-1]]
        for j in outgoing.get(last.receiver, []):
            leg = txs[j]
            if not (last.sec < leg.sec <= first.sec + 72 * HOUR):
                continue
            if not (85 * first.cents <= 100 * leg.cents <= 115 * first.cents):
                continue
            if leg.receiver == first.sender:
                hits.update(path + [j])
            elif leg.receiver not in seen and len(path) < 3:
                extend(first, path + [j], seen | {leg.receiver})

    for i, first in enumerate(txs):
        if first.cents >= 500_000:
            extend(first, [i], {first.sender, first.receiver})
    return hits


def r09(txs: Sequence[Tx]) -> Hits:
    """Cash deposit >= 1000 into A, then a non-cash payment out of A at 80-105 % within 72 h."""
    outgoing = _groups(txs, lambda t: t.sender, lambda t: t.ptype not in (CASH_IN, CASH_OUT))
    hits: Hits = set()
    for i, dep in enumerate(txs):
        if dep.ptype != CASH_IN or dep.cents < 100_000:
            continue
        for j in outgoing.get(dep.receiver, []):
            out = txs[j]
            if dep.sec < out.sec <= dep.sec + 72 * HOUR and (
                80 * dep.cents <= 100 * out.cents <= 105 * dep.cents
            ):
                hits.update((i, j))
    return hits


RULES: dict[str, Callable[[Sequence[Tx]], Hits]] = {
    "R01": r01,
    "R03": r03,
    "R04": r04,
    "R05": r05,
    "R06": r06,
    "R07": r07,
    "R08": r08,
    "R09": r09,
}


def hits(rule: str, txs: Sequence[Tx]) -> Hits:
    """Indices of ``txs`` the rule hits."""
    return RULES[rule](txs)
