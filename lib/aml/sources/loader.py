"""Loads a generated dataset, its increments, or a bare SAML-D CSV into a source database.

Dataset layout (written by ``aml generate``)::

    <dataset>/customers.csv, accounts.csv, transactions.csv (SAML-D), manifest.json
    <dataset>/increments/NNNN/transactions.csv (+ manifest.json), updates.csv

Transaction ids follow file order: row k of a file gets ``first_transaction_id + k - 1``, with
``first_transaction_id`` from the file's ``manifest.json``. A file without one (a real SAML-D
download) continues after the largest id, and its content hash is recorded with the ids it got,
so loading it again reuses them and inserts nothing. New rows never overwrite existing ids;
``updates.csv`` replaces existing rows, and only rows whose values change get a new
``updated_at``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aml.config import Config
from aml.sources import db
from aml.sources.bulk_mysql import MySQLBulk
from aml.sources.bulk_postgres import PostgresBulk
from aml.sources.csvfiles import (
    ACCOUNTS,
    CUSTOMERS,
    TRANSACTIONS,
    UPDATES,
    CsvTable,
    LoadError,
    Progress,
    check_header,
    file_sha256,
    first_id_from_manifest,
    read_manifest,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoadResult:
    """What one file did to its table."""

    file: Path
    table: str
    rows: int
    inserted: int = 0
    updated: int = 0
    unknown: int = 0
    seconds: float = 0.0

    def summary(self) -> str:
        rate = self.rows / self.seconds if self.seconds > 0 else 0.0
        text = (
            f"{self.table}: {self.rows:,} rows from {self.file.name} in {self.seconds:.1f} s "
            f"({rate:,.0f} rows/s): {self.inserted:,} inserted, {self.updated:,} updated"
        )
        return text + (f", {self.unknown:,} unknown ids" if self.unknown else "")


class Loader:
    """One connection to one source, loading files in order."""

    def __init__(self, config: Config, source_name: str | None = None) -> None:
        self.source = config.source(source_name)["name"]
        self.kind = db.source_kind(config, source_name)
        self.conn: Any = db.connect(config, source_name)
        schema = db.schema_name(config, source_name)
        self.bulk = (PostgresBulk if self.kind == "postgresql" else MySQLBulk)(self.conn, schema)

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Loader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _guard(self, path: Path, work: Any) -> Any:
        """Runs ``work`` and turns a driver error into a :class:`LoadError` naming the file."""
        try:
            return work()
        except LoadError:
            self.bulk.rollback()
            raise
        except Exception as exc:
            if type(exc).__module__.split(".")[0] not in ("psycopg", "pymysql"):
                raise
            self.bulk.rollback()
            raise LoadError(f"{self.source}: loading {path} failed: {exc}".strip()) from None

    def _stage(self, path: Path, spec: CsvTable) -> tuple[int, Progress]:
        terminator = check_header(path, spec)
        progress = Progress(f"{self.source} {spec.table} <- {path.name}", path.stat().st_size)
        log.info("%s: loading %s into %s", self.source, path, spec.table)
        if self.kind == "postgresql":
            staged = self.bulk.stage(path, spec, progress)
        else:
            staged = self.bulk.stage(path, spec, progress, terminator)
        return staged, progress

    def truncate(self) -> None:
        log.warning("%s: truncating the source tables", self.source)
        self.bulk.truncate()

    def upsert(self, path: Path, spec: CsvTable) -> LoadResult:
        """Keyed file (customers, accounts): insert new keys, update changed rows."""

        def work() -> LoadResult:
            staged, progress = self._stage(path, spec)
            updated, _ = self.bulk.update_changed(spec)
            inserted = self.bulk.insert_new(spec)
            self.bulk.commit()
            return LoadResult(path, spec.table, staged, inserted, updated, 0, progress.elapsed)

        return self._report(self._guard(path, work))

    def updates(self, path: Path) -> LoadResult:
        """``updates.csv``: full replacement of existing transactions by id."""

        def work() -> LoadResult:
            staged, progress = self._stage(path, UPDATES)
            updated, unknown = self.bulk.update_changed(UPDATES)
            self.bulk.commit()
            if unknown:
                log.warning(
                    "%s: %d ids in %s are not in transactions (skipped)", self.source, unknown, path
                )
            return LoadResult(path, "transactions", staged, 0, updated, unknown, progress.elapsed)

        return self._report(self._guard(path, work))

    def transactions(self, path: Path, first_id: int | None) -> LoadResult:
        """New SAML-D rows with ids in file order from ``first_id`` (None: after the largest,
        remembered by content hash so a reload reuses the same ids)."""

        def work() -> LoadResult:
            sha = None
            if first_id is None:
                check_header(path, TRANSACTIONS)
                sha = file_sha256(path)
            staged, progress = self._stage(path, TRANSACTIONS)
            start = first_id
            if sha is not None:
                start = self.bulk.find_loaded_file(sha)
                if start is None:
                    start = self.bulk.next_free_id()
                    self.bulk.record_loaded_file(sha, path.name, start, staged)
                log.info(
                    "%s: %s has no manifest: ids %d..%d",
                    self.source,
                    path.name,
                    start,
                    start + staged - 1,
                )
            label = f"{self.source} transactions <- {path.name}"
            inserted = self.bulk.insert_transactions(TRANSACTIONS, start, staged, label)
            self.bulk.commit()
            if inserted < staged:
                log.info(
                    "%s: %d of %d rows were already present (skipped)",
                    self.source,
                    staged - inserted,
                    staged,
                )
            return LoadResult(path, "transactions", staged, inserted, 0, 0, progress.elapsed)

        return self._report(self._guard(path, work))

    def _report(self, result: LoadResult) -> LoadResult:
        log.info("%s: %s", self.source, result.summary())
        return result


def list_increments(dataset: Path) -> list[str]:
    """Complete increments (``NNNN`` folders with a manifest.json) of a dataset, in load order;
    a folder without a manifest is one the generator has not finished writing."""
    root = dataset / "increments"
    if not root.is_dir():
        return []
    return sorted(
        p.name
        for p in root.iterdir()
        if p.is_dir() and p.name.isdigit() and (p / "manifest.json").is_file()
    )


def _increment_dir(dataset: Path, name: str) -> Path:
    for candidate in (name, name.zfill(4)):
        if (dataset / "increments" / candidate).is_dir():
            return dataset / "increments" / candidate
    known = ", ".join(list_increments(dataset)) or "none"
    raise LoadError(f"no increment '{name}' in {dataset / 'increments'} (known: {known})")


def _people(loader: Loader, directory: Path, required: bool) -> list[LoadResult]:
    results = []
    for name, spec in (("customers.csv", CUSTOMERS), ("accounts.csv", ACCOUNTS)):
        if (directory / name).is_file():
            results.append(loader.upsert(directory / name, spec))
        elif required:
            log.warning("%s has no %s: skipped", directory, name)
    return results


def load_dataset_base(loader: Loader, dataset: Path) -> list[LoadResult]:
    """Customers and accounts (when present), then the base transactions."""
    if not dataset.is_dir():
        raise LoadError(f"dataset directory not found: {dataset}")
    results = _people(loader, dataset, required=True)
    first_id = first_id_from_manifest(read_manifest(dataset), dataset)
    results.append(loader.transactions(dataset / "transactions.csv", first_id))
    return results


def load_increment(loader: Loader, dataset: Path, name: str) -> list[LoadResult]:
    """New customers/accounts, new rows, then updates (which may refer to this increment's rows)."""
    inc = _increment_dir(dataset, name)
    new, updates = inc / "transactions.csv", inc / "updates.csv"
    if not new.is_file() and not updates.is_file():
        raise LoadError(f"increment {inc} has neither transactions.csv nor updates.csv")
    results = _people(loader, inc, required=False)
    if new.is_file():
        results.append(loader.transactions(new, first_id_from_manifest(read_manifest(inc), inc)))
    if updates.is_file():
        results.append(loader.updates(updates))
    return results


def load(
    config: Config,
    source_name: str | None = None,
    *,
    dataset: Path | None = None,
    saml_d: Path | None = None,
    increments: list[str] | None = None,
    all_increments: bool = False,
    truncate: bool = False,
) -> list[LoadResult]:
    """Loads what the arguments select (see ``aml load --help``); returns one result per file.

    Raises:
        LoadError: a file is missing or malformed, or the database rejected it.
        SourceError: the database is unreachable.
    """
    if (dataset is None) == (saml_d is None):
        raise LoadError("give exactly one of a dataset directory or a SAML-D file")
    if saml_d is not None and (increments or all_increments):
        raise LoadError("increments belong to a dataset: use --dataset with --increment")
    if saml_d is not None and not saml_d.is_file():
        raise LoadError(f"missing file: {saml_d}")
    with Loader(config, source_name) as loader:
        if truncate:
            loader.truncate()
        if saml_d is not None:
            return [loader.transactions(saml_d, None)]
        assert dataset is not None
        names = list_increments(dataset) if all_increments else list(increments or [])
        if all_increments and not names:
            raise LoadError(f"{dataset} has no increments/ directory with increments")
        if not names:
            results = load_dataset_base(loader, dataset)
        else:
            results = []
            for name in names:
                results += load_increment(loader, dataset, name)
    remember_dataset(config, dataset)
    return results


LAST_LOADED = "last-loaded-dataset.json"


def remember_dataset(config: Config, dataset: Path) -> None:
    """Notes which generated dataset the source now holds, so that the evaluation, the backtest
    and the notebooks find its ground truth without being told (``aml demo`` loads
    ``<data_dir>/demo-<rows>-<seed>``, not ``<data_dir>/saml_d``)."""
    marker = config.data_dir / LAST_LOADED
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.write_text(json.dumps({"dataset": str(Path(dataset).resolve())}) + "\n")


def loaded_dataset(config: Config) -> Path | None:
    """The dataset :func:`remember_dataset` noted last, if it still exists."""
    marker = config.data_dir / LAST_LOADED
    if not marker.is_file():
        return None
    path = Path(json.loads(marker.read_text())["dataset"])
    return path if path.is_dir() else None
