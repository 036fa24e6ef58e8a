"""Columnar transaction rows: the one structure normal traffic, the plan and the writer share.

Rows stay as parallel numpy arrays of codes (account indices, cents, domain indices) until the
writer formats them, so a day of ~30k rows costs a few hundred kilobytes and every step is
vectorised. Amounts are integer cents so that rule thresholds (``< 10000``, ratios) are exact.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np

_DTYPES = {
    "sec": np.int64,
    "sender": np.int64,
    "receiver": np.int64,
    "cents": np.int64,
    "ptype": np.int8,
    "ltype": np.int8,
    "sloc": np.int8,
    "rloc": np.int8,
    "tag": np.int64,
}


@dataclass
class Rows:
    """Transactions as columns.

    Attributes:
        sec: event time in seconds since the dataset's start date (00:00:00 of day 0).
        sender: sender account index.
        receiver: receiver account index.
        cents: amount in pence (always > 0).
        ptype: index into ``PAYMENT_TYPES``.
        ltype: index into ``LAUNDERING_TYPES`` (``Is_laundering`` is derived from it).
        sloc: sender bank location index.
        rloc: receiver bank location index.
        tag: planned instance id (injected suspicious or hard negative), 0 for plain traffic.
    """

    sec: np.ndarray
    sender: np.ndarray
    receiver: np.ndarray
    cents: np.ndarray
    ptype: np.ndarray
    ltype: np.ndarray
    sloc: np.ndarray
    rloc: np.ndarray
    tag: np.ndarray

    def __len__(self) -> int:
        return int(self.sec.size)

    @classmethod
    def empty(cls) -> Rows:
        return cls(**{name: np.empty(0, dtype=dt) for name, dt in _DTYPES.items()})

    @classmethod
    def from_columns(cls, **columns: object) -> Rows:
        """Builds rows from array-likes, casting each column to its canonical dtype."""
        return cls(**{name: np.asarray(columns[name], dtype=dt) for name, dt in _DTYPES.items()})

    def take(self, index: np.ndarray | slice) -> Rows:
        return Rows(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @staticmethod
    def concat(parts: list[Rows]) -> Rows:
        if not parts:
            return Rows.empty()
        return Rows(
            **{f.name: np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Rows)}
        )

    def sorted_by_time(self) -> Rows:
        """Stable sort by event time: ties keep their order, so output is reproducible."""
        return self.take(np.argsort(self.sec, kind="stable"))
