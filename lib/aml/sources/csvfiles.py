"""The CSV files the loader accepts: their exact headers, target columns, and progress reporting.

A SAML-D file's header is checked byte for byte (after an optional UTF-8 BOM) before anything
is sent to a database, so a wrong file fails fast with both headers in the message instead of
half-loading with shifted columns.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aml import saml_d

log = logging.getLogger(__name__)

SAML_D_HEADER: tuple[str, ...] = saml_d.HEADER
SAML_D_COLUMNS: tuple[str, ...] = saml_d.FIELDS
PROGRESS_EVERY_S = 5.0


class LoadError(RuntimeError):
    """A file is missing or malformed, or the database rejected its rows."""


@dataclass(frozen=True)
class CsvTable:
    """One accepted file layout and the table it feeds.

    Attributes:
        table: target table in the source schema.
        key: the table's primary key column.
        header: the file's header, exactly.
        columns: target column of each file column, in file order.
        booleans: columns holding booleans (``0/1`` or ``true/false``).
    """

    table: str
    key: str
    header: tuple[str, ...]
    columns: tuple[str, ...]
    booleans: frozenset[str] = frozenset()

    @property
    def value_columns(self) -> tuple[str, ...]:
        """Target columns other than the key (what an update may change)."""
        return tuple(c for c in self.columns if c != self.key)


CUSTOMERS = CsvTable(
    "customers",
    "customer_id",
    ("customer_id", "full_name", "date_of_birth", "country", "risk_rating", "is_pep"),
    ("customer_id", "full_name", "date_of_birth", "country", "risk_rating", "is_pep"),
    booleans=frozenset({"is_pep"}),
)
ACCOUNTS = CsvTable(
    "accounts",
    "account_number",
    ("account_number", "customer_id", "bank_location", "opened_date"),
    ("account_number", "customer_id", "bank_location", "opened_date"),
)
# New SAML-D rows: ids are not in the file, they follow file order from a first id.
TRANSACTIONS = CsvTable("transactions", "transaction_id", SAML_D_HEADER, SAML_D_COLUMNS)
# Full replacement of existing rows, by id.
UPDATES = CsvTable(
    "transactions",
    "transaction_id",
    ("transaction_id", *SAML_D_HEADER),
    ("transaction_id", *SAML_D_COLUMNS),
)


def check_header(path: Path, spec: CsvTable) -> str:
    """Validates a file's header; returns its line terminator (``\\n`` or ``\\r\\n``).

    Raises:
        LoadError: the file is missing, empty, or its header differs from ``spec.header``.
    """
    if not path.is_file():
        raise LoadError(f"missing file: {path}")
    with path.open("rb") as fh:
        raw = fh.readline()
    if not raw:
        raise LoadError(f"{path} is empty (expected header {','.join(spec.header)})")
    terminator = "\r\n" if raw.endswith(b"\r\n") else "\n"
    found = raw.decode("utf-8", errors="replace").lstrip("\ufeff").rstrip("\r\n")
    expected = ",".join(spec.header)
    if found != expected:
        raise LoadError(
            f"{path} has the wrong header for {spec.table}:\n  expected: {expected}\n"
            f"  found:    {found[:300]}"
        )
    return terminator


def header_length(path: Path) -> int:
    """Bytes of the header line (including its terminator)."""
    with path.open("rb") as fh:
        return len(fh.readline())


def read_manifest(directory: Path) -> dict[str, Any] | None:
    """``manifest.json`` of a dataset or increment directory, if there is one."""
    path = directory / "manifest.json"
    if not path.is_file():
        return None
    try:
        return dict(json.loads(path.read_text(encoding="utf-8")))
    except (ValueError, TypeError) as exc:
        raise LoadError(f"{path} is not a valid JSON object: {exc}") from exc


def first_id_from_manifest(manifest: dict[str, Any] | None, directory: Path) -> int | None:
    if manifest is None or "first_transaction_id" not in manifest:
        return None
    try:
        return int(manifest["first_transaction_id"])
    except (TypeError, ValueError) as exc:
        raise LoadError(
            f"{directory}/manifest.json: first_transaction_id is not an integer"
        ) from exc


def file_sha256(path: Path) -> str:
    """Content hash identifying a manifest-less file across reloads (and renames)."""
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


class Progress:
    """Logs rows streamed, percent of the file and rows/s at most every few seconds."""

    def __init__(self, label: str, total_bytes: int) -> None:
        self.label = label
        self.total = max(total_bytes, 1)
        self.bytes = 0
        self.rows = 0
        self.start = self._last = time.monotonic()
        self._lock = threading.Lock()

    def advance(self, nbytes: int, nrows: int) -> None:
        with self._lock:
            self.bytes += nbytes
            self.rows += nrows
            now = time.monotonic()
            if now - self._last >= PROGRESS_EVERY_S:
                self._last = now
                log.info(
                    "%s: %s rows (%d %%), %s rows/s",
                    self.label,
                    f"{self.rows:,}",
                    100 * self.bytes // self.total,
                    f"{self.rate(self.rows):,.0f}",
                )

    def rate(self, rows: int) -> float:
        return rows / max(time.monotonic() - self.start, 1e-6)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.start
