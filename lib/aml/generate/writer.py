"""Byte-exact SAML-D CSV output through pyarrow's C++ CSV writer.

Coded rows become Arrow arrays with ``take`` on tiny dictionaries of the exact spellings, amounts
become ``decimal128(14, 2)`` straight from integer pence (no float formatting, so ``5.00`` never
turns into ``5.0``), and a streaming ``CSVWriter`` appends one day at a time. Quoting is off: no
SAML-D value contains a comma or quote, and the real file has none. The header is written by hand
because Arrow always quotes header names.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache
from pathlib import Path
from types import TracebackType

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from aml.generate.domains import (
    CURRENCIES,
    DAY,
    HEADER,
    IS_LAUNDERING,
    LAUNDERING_TYPES,
    LOCATION_CURRENCY,
    LOCATION_NAMES,
    PAYMENT_TYPES,
)
from aml.generate.population import account_numbers
from aml.generate.rows import Rows

_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")


@lru_cache(maxsize=1)
def _dictionaries() -> dict[str, pa.Array]:
    clock = [f"{h:02d}:{m:02d}:{s:02d}" for h in range(24) for m in range(60) for s in range(60)]
    return {
        "time": pa.array(clock),
        "currency": pa.array(CURRENCIES),
        "location": pa.array(LOCATION_NAMES),
        "ptype": pa.array(PAYMENT_TYPES),
        "ltype": pa.array(LAUNDERING_TYPES),
    }


def date_str(start: dt.date, day: int) -> str:
    return (start + dt.timedelta(days=int(day))).isoformat()


def decimal_from_cents(cents: np.ndarray) -> pa.Array:
    """Integer pence -> ``decimal128(14, 2)`` without going through floats."""
    words = np.zeros((cents.size, 2), dtype=np.int64)
    words[:, 0] = cents
    words[:, 1] = np.where(cents < 0, -1, 0)  # two's complement high word
    return pa.Array.from_buffers(pa.decimal128(14, 2), cents.size, [None, pa.py_buffer(words)])


def to_table(rows: Rows, seed: int, start: dt.date, ids: np.ndarray | None = None) -> pa.Table:
    """Formats coded rows as the 12 SAML-D columns (optionally preceded by ``transaction_id``)."""
    d = _dictionaries()
    days, inverse = np.unique(rows.sec // DAY, return_inverse=True)
    dates = pa.array([date_str(start, day) for day in days])
    columns = {
        "Time": d["time"].take(pa.array(rows.sec % DAY)),
        "Date": dates.take(pa.array(inverse.astype(np.int64))),
        "Sender_account": pa.array(account_numbers(seed, rows.sender)),
        "Receiver_account": pa.array(account_numbers(seed, rows.receiver)),
        "Amount": decimal_from_cents(rows.cents),
        "Payment_currency": d["currency"].take(pa.array(LOCATION_CURRENCY[rows.sloc])),
        "Received_currency": d["currency"].take(pa.array(LOCATION_CURRENCY[rows.rloc])),
        "Sender_bank_location": d["location"].take(pa.array(rows.sloc)),
        "Receiver_bank_location": d["location"].take(pa.array(rows.rloc)),
        "Payment_type": d["ptype"].take(pa.array(rows.ptype)),
        "Is_laundering": pa.array(IS_LAUNDERING[rows.ltype]),
        "Laundering_type": d["ltype"].take(pa.array(rows.ltype)),
    }
    if ids is not None:
        columns = {"transaction_id": pa.array(ids, pa.int64()), **columns}
    return pa.table(columns)


class TransactionWriter:
    """Appends days of rows to one SAML-D CSV file (header written once)."""

    def __init__(self, path: Path, seed: int, start: dt.date, with_ids: bool = False) -> None:
        self.path, self.seed, self.start, self.with_ids = path, seed, start, with_ids
        self.rows_written = 0
        self._fh = path.open("wb")
        header = ("transaction_id",) * with_ids + HEADER
        self._fh.write((",".join(header) + "\n").encode())
        self._writer: pacsv.CSVWriter | None = None

    def write(self, rows: Rows, ids: np.ndarray | None = None) -> None:
        if not len(rows):
            return
        table = to_table(rows, self.seed, self.start, ids if self.with_ids else None)
        if self._writer is None:
            self._writer = pacsv.CSVWriter(self._fh, table.schema, write_options=_OPTIONS)
        self._writer.write_table(table)
        self.rows_written += len(rows)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
        self._fh.close()

    def __enter__(self) -> TransactionWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


def write_rows(
    path: Path, header: tuple[str, ...], columns: list[list[object] | np.ndarray]
) -> int:
    """Writes a small table of plain values (ground truth, hard negatives) as CSV."""
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(",".join(header) + "\n")
        n = len(columns[0]) if columns else 0
        for i in range(n):
            fh.write(",".join(str(col[i]) for col in columns) + "\n")
    return n


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()
