"""The injection plan: suspicious instances and hard negatives, decided before any day is written.

Planned instances are tiny next to the normal traffic (about 0.1-0.5 % of rows), so the whole plan
lives in memory while days are generated one at a time; each day just merges its slice of the plan.
Every instance gets fresh accounts (indices after the normal population), which is what makes the
rule guarantees exact: nothing else ever touches those accounts, so an instance's rule condition
holds (or, for a hard negative, fails) whatever the normal traffic does.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from aml.generate.domains import (
    CROSS,
    DOMESTIC_TYPES,
    FOREIGN_WEIGHTS,
    HIGH_RISK_DEST,
    UK,
    ltype,
)
from aml.generate.rows import Rows


@dataclass(frozen=True)
class Window:
    """Absolute seconds ``[lo, hi]`` an instance's rows must fall into."""

    lo: int
    hi: int

    @property
    def length(self) -> int:
        return self.hi - self.lo


@dataclass(frozen=True)
class Tx:
    """One planned transaction, in the shape the rule checks read."""

    sec: int
    sender: int
    receiver: int
    cents: int
    ptype: int


@dataclass
class PlanBuilder:
    """Accumulates planned rows, fresh accounts and instance metadata.

    Attributes:
        rng: the plan's random stream.
        next_account: index the next fresh account gets.
        next_instance: id the next instance gets.
        fresh_loc: bank location of each fresh account created so far.
        fresh_instance: instance id each fresh account was created for.
        suspicious: instance id -> Laundering_type of injected suspicious instances.
        negatives: instance id -> rule id a hard negative stays just under.
    """

    rng: np.random.Generator
    next_account: int
    next_instance: int
    fresh_loc: list[int] = field(default_factory=list)
    fresh_instance: list[int] = field(default_factory=list)
    suspicious: dict[int, str] = field(default_factory=dict)
    negatives: dict[int, str] = field(default_factory=dict)
    _rows: list[tuple[int, ...]] = field(default_factory=list)
    _loc: dict[int, int] = field(default_factory=dict)

    # accounts -----------------------------------------------------------------------------------
    def account(self, loc: int = UK) -> int:
        index = self.next_account
        self.next_account += 1
        self.fresh_loc.append(int(loc))
        self.fresh_instance.append(self.next_instance - 1)
        self._loc[index] = int(loc)
        return index

    def accounts(self, n: int, loc: int = UK) -> list[int]:
        return [self.account(loc) for _ in range(n)]

    def foreign_loc(self, high_risk: float = 0.6) -> int:
        """A non-UK location; with probability ``high_risk`` one where laundering money lands."""
        if self.rng.random() < high_risk:
            return int(self.rng.choice(HIGH_RISK_DEST))
        return int(self.rng.choice(FOREIGN_WEIGHTS.size, p=FOREIGN_WEIGHTS / FOREIGN_WEIGHTS.sum()))

    def mixed_loc(self, foreign_share: float) -> int:
        return self.foreign_loc() if self.rng.random() < foreign_share else UK

    def transfer_type(self, sender: int, receiver: int) -> int:
        """Cross-border when locations differ, else a random domestic non-cash type."""
        if self._loc[sender] != self._loc[receiver]:
            return CROSS
        return int(self.rng.choice(DOMESTIC_TYPES))

    # instances ----------------------------------------------------------------------------------
    def open(self, laundering_type: str | None = None, rule: str | None = None) -> int:
        """Starts an instance: a suspicious one (its type) or a hard negative (its rule)."""
        instance = self.next_instance
        self.next_instance += 1
        if laundering_type is not None:
            self.suspicious[instance] = laundering_type
        if rule is not None:
            self.negatives[instance] = rule
        return instance

    def add(self, instance: int, tx: Tx, label: str) -> None:
        if tx.sender == tx.receiver or tx.cents <= 0:
            raise RuntimeError(f"invalid planned transaction {tx}")  # a builder bug
        self._rows.append(
            (tx.sec, tx.sender, tx.receiver, tx.cents, tx.ptype, ltype(label), instance)
        )

    def transfer(self, sec: int, sender: int, receiver: int, cents: int) -> Tx:
        return Tx(int(sec), sender, receiver, int(cents), self.transfer_type(sender, receiver))

    def rows(self) -> Rows:
        """All planned rows sorted by time (stable), with locations resolved."""
        if not self._rows:
            return Rows.empty()
        cols = np.array(self._rows, dtype=np.int64).T
        sloc = [self._loc[int(a)] for a in cols[1]]
        rloc = [self._loc[int(a)] for a in cols[2]]
        return Rows.from_columns(
            sec=cols[0],
            sender=cols[1],
            receiver=cols[2],
            cents=cols[3],
            ptype=cols[4],
            ltype=cols[5],
            tag=cols[6],
            sloc=sloc,
            rloc=rloc,
        ).sorted_by_time()

    def mule_flags(self) -> np.ndarray:
        """Per fresh account: created for a suspicious instance (not a hard negative)."""
        return np.array([i in self.suspicious for i in self.fresh_instance], dtype=bool)

    def drop(self, instance: int) -> None:
        """Forgets a rejected attempt (its accounts stay unused; numbers are cheap)."""
        self._rows = [r for r in self._rows if r[6] != instance]
        self.suspicious.pop(instance, None)
        self.negatives.pop(instance, None)

    @property
    def n_rows(self) -> int:
        return len(self._rows)

    def cents(self, low: float, high: float) -> int:
        """A uniform amount in pounds ``[low, high]`` as integer pence."""
        return int(round(self.rng.uniform(low, high) * 100))

    def start(self, window: Window, span: int) -> int:
        """A start second so that ``[start, start + span]`` fits in the window."""
        span = min(span, window.length)
        return int(window.lo + self.rng.integers(0, window.length - span + 1))
