"""No personal data in clear in silver, gold, quarantine or ops, nor in the jobs' log output.

The session's lake (``shared_lake``: generated data taken the whole way, generate, PostgreSQL,
ingest, silver, gold, with everything silver and gold logged and printed kept): every value of
every Parquet data file, and every Delta log entry (column statistics), under the silver, gold,
quarantine and ops folders, and that output, are compared against the plaintext account
numbers, customer names and dates of birth of the dataset.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
from tests.integration.gold_data import SharedLake

SCANNED_LAYERS = ("silver", "gold", "quarantine", "ops")
# Declared non-personal date columns: a customer may be born on a day some account was opened.
NOT_PII = {"opened_date", "event_date", "event_ts", "updated_at", "_processed_at", "detected_at"}


def forbidden_values(dataset: Path) -> set[str]:
    values: set[str] = set()
    with (dataset / "transactions.csv").open() as fh:
        for row in csv.DictReader(fh):
            values.update((row["Sender_account"], row["Receiver_account"]))
    with (dataset / "customers.csv").open() as fh:
        for row in csv.DictReader(fh):
            values.update((row["full_name"], row["date_of_birth"]))
    return values


def _flatten(value) -> list[str]:
    if value is None:
        return []
    if isinstance(value, list | tuple):
        return [v for item in value for v in _flatten(item)]
    if isinstance(value, dict):
        return [v for item in value.values() for v in _flatten(item)]
    return [str(value)]


def leaks_in_lake(lake_root: Path, forbidden: set[str], layers=SCANNED_LAYERS) -> Iterator[str]:
    """Where ``forbidden`` values are, file by file and column by column (lazily: the positive
    control stops at the first)."""
    for layer in layers:
        for data_file in sorted((lake_root / layer).rglob("*.parquet")):
            table = pq.read_table(data_file)
            for name in sorted(set(table.column_names) - NOT_PII):
                hits = forbidden.intersection(_flatten(table.column(name).to_pylist()))
                yield from (f"{data_file}:{name}={h}" for h in sorted(hits))
        for log_file in sorted((lake_root / layer).rglob("_delta_log/*.json")):
            for line in log_file.read_text().splitlines():
                stats = json.loads(json.loads(line).get("add", {}).get("stats") or "{}")
                for bound in ("minValues", "maxValues"):
                    values = {k: v for k, v in stats.get(bound, {}).items() if k not in NOT_PII}
                    hits = forbidden.intersection(_flatten(values))
                    yield from (f"{log_file}: {h}" for h in sorted(hits))


def test_no_plaintext_pii_in_silver_gold_quarantine_or_logs(shared_lake: SharedLake):
    lake = shared_lake.lake
    forbidden = forbidden_values(lake.dataset)
    assert len(forbidden) > 1000
    lake_root = Path(lake.config.lake_root)
    assert any((lake_root / "silver").rglob("*.parquet"))
    assert any((lake_root / "gold").rglob("*.parquet"))
    assert any((lake_root / "ops" / "watermarks").rglob("*.parquet"))
    assert list(leaks_in_lake(lake_root, forbidden)) == []
    # the scanner does find plaintext where it is allowed to be: raw bronze
    assert next(leaks_in_lake(lake_root, forbidden, layers=("bronze",)), None)
    # what silver and gold logged (every logger at DEBUG) and printed while they were built
    assert "build_gold" in shared_lake.build_output
    assert [v for v in forbidden if v in shared_lake.build_output] == []
