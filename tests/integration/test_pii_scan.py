"""No personal data in clear in silver, gold, quarantine or ops, nor in the jobs' log output.

Generated data goes the whole way (generate, load into PostgreSQL, ingest, build silver, build
gold); then every value of every Parquet data file, and every Delta log entry (column
statistics), under the silver, gold, quarantine and ops folders is compared against the
plaintext account numbers, customer names and dates of birth of the dataset.
"""

from __future__ import annotations

import csv
import json
import logging
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from cryptography.fernet import Fernet

from aml.config import Config
from aml.generate.generator import generate
from aml.gold import job as gold_job
from aml.ingest import job as ingest_job
from aml.silver import job as silver_job
from aml.sources import db, loader

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


def leaks_in_lake(lake_root: Path, forbidden: set[str], layers=SCANNED_LAYERS) -> list[str]:
    found = []
    for layer in layers:
        for data_file in (lake_root / layer).rglob("*.parquet"):
            table = pq.read_table(data_file)
            for name in set(table.column_names) - NOT_PII:
                for value in table.column(name).to_pylist():
                    hits = forbidden.intersection(_flatten(value))
                    found += [f"{data_file}:{name}={h}" for h in hits]
        for log_file in (lake_root / layer).rglob("_delta_log/*.json"):
            for line in log_file.read_text().splitlines():
                stats = json.loads(json.loads(line).get("add", {}).get("stats") or "{}")
                for bound in ("minValues", "maxValues"):
                    values = {k: v for k, v in stats.get(bound, {}).items() if k not in NOT_PII}
                    found += [f"{log_file}: {h}" for h in forbidden.intersection(_flatten(values))]
    return found


@pytest.fixture()
def keys(monkeypatch):
    monkeypatch.setenv("AML_FERNET_KEYS", Fernet.generate_key().decode())
    monkeypatch.setenv("AML_TOKEN_KEY", Fernet.generate_key().decode())


def test_no_plaintext_pii_in_silver_gold_quarantine_or_logs(
    spark, services: Config, tmp_path, keys, caplog, capfd
):
    config = services.with_lake(tmp_path / "lake")
    dataset = tmp_path / "dataset"
    generate(dataset, rows=20_000, seed=3)
    with db.connect(config, "postgres") as conn:
        cur = conn.cursor()
        for table in ("transactions", "accounts", "customers"):
            cur.execute(f"TRUNCATE TABLE core.{table}")
        conn.commit()
    with caplog.at_level(logging.DEBUG):
        loader.load(config, "postgres", dataset=dataset)
        ingest_job.run(spark, config, None, "postgres")
        caplog.clear()  # bronze is raw by design; from here on nothing may leak
        silver_job.run(spark, config)
        gold_job.run(spark, config)
    forbidden = forbidden_values(dataset)
    assert len(forbidden) > 1000
    lake_root = Path(config.lake_root)
    assert any((lake_root / "silver").rglob("*.parquet"))
    assert any((lake_root / "gold").rglob("*.parquet"))
    assert any((lake_root / "ops" / "watermarks").rglob("*.parquet"))
    assert leaks_in_lake(lake_root, forbidden) == []
    # the scanner does find plaintext where it is allowed to be: raw bronze
    assert leaks_in_lake(lake_root, forbidden, layers=("bronze",))
    captured = capfd.readouterr()
    logged = caplog.text + captured.out + captured.err
    assert [v for v in forbidden if v in logged] == []
