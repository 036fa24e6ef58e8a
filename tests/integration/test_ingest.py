"""Incremental JDBC ingestion against the real PostgreSQL and MariaDB."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest
from tests.integration.source_rows import insert_rows, insert_sql, reset, update_every

from aml.config import Config
from aml.ingest import job
from aml.ingest.reconcile import reconcile
from aml.ingest.spec import load_table_specs
from aml.ops import latest_runs, read_watermark
from aml.sources import db

SOURCES = ["postgres", "mariadb"]


def lake_in(config: Config, root: Path, source: str) -> Config:
    lake = config.with_lake(root / "lake")
    return replace(lake, data={**lake.data, "ingest": {**lake.data["ingest"], "source": source}})


@pytest.fixture(params=SOURCES)
def env(request, services, tmp_path):
    """(config with a fresh lake, open source connection, source kind) for one source."""
    config = lake_in(services, tmp_path, request.param)
    conn = db.connect(config, request.param)
    reset(conn)
    yield config, conn, db.source_kind(config, request.param)
    reset(conn)
    conn.close()


def tx_spec(config):
    return load_table_specs(config)["transactions"]


def assert_bronze_equals_source(spark, config, source):
    result = reconcile(spark, config, source, tx_spec(config))
    assert result.equal, result
    return result


def bronze_version(spark, config):
    from delta.tables import DeltaTable

    table = DeltaTable.forPath(spark, config.table_path("bronze", "transactions"))
    return table.history(1).first().version


def ingest(spark, config):
    return job.run(spark, config, ["transactions"])


def test_initial_load_copies_every_row_and_records_the_run(spark, env):
    config, conn, kind = env
    source = config.source()["name"]
    insert_rows(conn, kind, 1, 5000)
    run = ingest(spark, config)
    assert run.rows_read == 5000 and run.rows_written == 5000
    result = assert_bronze_equals_source(spark, config, source)
    assert result.source_rows == 5000
    bronze = spark.read.format("delta").load(config.table_path("bronze", "transactions"))
    meta = bronze.select("_source", "_run_id").distinct().collect()
    assert [(m._source, m._run_id) for m in meta] == [(source, run.run_id)]
    runs = latest_runs(spark, config).collect()
    assert [(r.status, r.rows_written) for r in runs] == [("SUCCEEDED", 5000)]
    assert runs[0].table_versions == {"bronze.transactions": 0}
    assert read_watermark(spark, config, source, "transactions") is not None


def test_increment_takes_new_and_updated_rows_without_duplicates(spark, env):
    config, conn, kind = env
    source = config.source()["name"]
    insert_rows(conn, kind, 1, 3000)
    ingest(spark, config)
    updated = update_every(conn, 10, 1, 3000)
    insert_rows(conn, kind, 3001, 3500)
    run = ingest(spark, config)
    assert run.rows_written == updated + 500
    result = assert_bronze_equals_source(spark, config, source)
    assert result.bronze_rows == 3500


def test_new_key_inside_the_updated_range_is_inserted(spark, env):
    """The MERGE bounds bronze's side to the updated keys' range: a new key inside it is
    inserted, not lost."""
    config, conn, kind = env
    source = config.source()["name"]
    insert_rows(conn, kind, 1, 499)
    insert_rows(conn, kind, 501, 1000)
    ingest(spark, config)
    updated = update_every(conn, 10, 1, 1000)
    insert_rows(conn, kind, 500, 500)
    run = ingest(spark, config)
    assert run.rows_written == updated + 1
    assert assert_bronze_equals_source(spark, config, source).bronze_rows == 1000


def test_increment_of_new_rows_only_is_an_append(spark, env):
    from delta.tables import DeltaTable

    config, conn, kind = env
    source = config.source()["name"]
    insert_rows(conn, kind, 1, 1000)
    ingest(spark, config)
    insert_rows(conn, kind, 1001, 1200)
    run = ingest(spark, config)  # the look-back re-reads the first 1,000 rows: unchanged
    assert run.rows_read == 1200 and run.rows_written == 200
    table = DeltaTable.forPath(spark, config.table_path("bronze", "transactions"))
    assert table.history(1).first().operation == "WRITE"
    assert assert_bronze_equals_source(spark, config, source).bronze_rows == 1200


def test_run_with_no_source_change_leaves_bronze_unchanged(spark, env):
    config, conn, kind = env
    insert_rows(conn, kind, 1, 2000)
    ingest(spark, config)
    before = bronze_version(spark, config)
    run = ingest(spark, config)  # the look-back window re-reads rows: none has changed
    assert run.rows_written == 0
    assert bronze_version(spark, config) == before


def test_row_committed_late_inside_the_lookback_is_captured(spark, env):
    config, conn, kind = env
    source = config.source()["name"]
    insert_rows(conn, kind, 1, 1000)
    ingest(spark, config)
    late = db.connect(config, source)  # opens a transaction: its updated_at is taken now
    with late.cursor() as cur:
        cur.execute(insert_sql(kind, 5000, 5000))
    insert_rows(conn, kind, 1001, 1100)  # committed now, with a later updated_at
    ingest(spark, config)  # the watermark passes the still-uncommitted row
    mark = read_watermark(spark, config, source, "transactions")
    late.commit()  # the row becomes visible with an updated_at older than the watermark
    late.close()
    with conn.cursor() as cur:
        cur.execute("SELECT updated_at FROM core.transactions WHERE transaction_id = 5000")
        late_ts = cur.fetchone()[0]
    conn.commit()
    assert late_ts.strftime("%Y-%m-%d %H:%M:%S.%f") < mark.value
    ingest(spark, config)
    result = assert_bronze_equals_source(spark, config, source)
    assert result.bronze_rows == 1101


def test_new_source_column_is_carried_into_bronze_with_a_log_line(spark, env, caplog):
    config, conn, kind = env
    source = config.source()["name"]
    insert_rows(conn, kind, 1, 500)
    ingest(spark, config)
    with conn.cursor() as cur:
        cur.execute("ALTER TABLE core.transactions ADD COLUMN channel VARCHAR(16)")
        cur.execute("UPDATE core.transactions SET channel = 'mobile' WHERE transaction_id <= 10")
    conn.commit()
    with caplog.at_level(logging.WARNING, logger="aml.ingest.bronze"):
        ingest(spark, config)
    assert any("schema drift" in r.message and "channel" in r.message for r in caplog.records)
    bronze = spark.read.format("delta").load(config.table_path("bronze", "transactions"))
    assert bronze.where("channel = 'mobile'").count() == 10
    assert_bronze_equals_source(spark, config, source)


def test_full_refresh_rebuilds_bronze(spark, env):
    config, conn, kind = env
    source = config.source()["name"]
    insert_rows(conn, kind, 1, 800)
    ingest(spark, config)
    with conn.cursor() as cur:
        cur.execute("DELETE FROM core.transactions WHERE transaction_id > 700")
    conn.commit()
    job.run(spark, config, ["transactions"], full_refresh=True)
    assert_bronze_equals_source(spark, config, source)


def test_wrong_password_fails_clearly_and_keeps_the_watermark(spark, env, monkeypatch, caplog):
    config, conn, kind = env
    source = config.source()["name"]
    insert_rows(conn, kind, 1, 100)
    ingest(spark, config)
    mark = read_watermark(spark, config, source, "transactions")
    env_var = config.source()["password_env"]
    monkeypatch.setenv(env_var, "certainly-not-the-password")
    with pytest.raises(db.SourceError) as err:
        ingest(spark, config)
    assert "certainly-not-the-password" not in str(err.value)
    assert source in str(err.value)
    assert read_watermark(spark, config, source, "transactions") == mark
    statuses = [r.status for r in latest_runs(spark, config).collect()]
    assert sorted(statuses) == ["FAILED", "SUCCEEDED"]


def test_source_that_is_down_gives_a_clear_error(spark, services, tmp_path):
    config = lake_in(services, tmp_path, "postgres")
    sources = {
        **config.data["sources"],
        "postgres": {**config.data["sources"]["postgres"], "port": 1},
    }
    config = replace(config, data={**config.data, "sources": sources})
    with pytest.raises(db.SourceError, match="cannot connect to postgres at 127.0.0.1:1"):
        ingest(spark, config)


def test_accounts_bulk_loaded_in_one_statement_are_not_read_again(spark, services, tmp_path):
    """The accounts table's key is an account number: its watermark keeps no tie-breaker. A
    bulk load stamps every row with one ``updated_at``; once that is older than the look-back,
    the next run reads the changed row only, not every row tied at the watermark."""
    config = lake_in(services, tmp_path, "postgres")
    spec = load_table_specs(config)["accounts"]
    with db.connect(config, "postgres") as conn:
        conn.execute("TRUNCATE TABLE core.accounts")
        conn.execute(
            "INSERT INTO core.accounts (account_number, customer_id, bank_location, opened_date) "
            "SELECT 3000000000 + g, g, 'UK', DATE '2020-01-01' FROM generate_series(1, 500) g"
        )
        # a day old: outside the look-back
        with db.stamps_kept(conn, "core", "accounts"):
            conn.execute("UPDATE core.accounts SET updated_at = updated_at - INTERVAL '1 day'")
        conn.commit()
        try:
            assert job.run(spark, config, ["accounts"]).rows_read == 500
            assert read_watermark(spark, config, "postgres", "accounts").key is None
            conn.execute(
                "UPDATE core.accounts SET bank_location = 'France' "
                "WHERE account_number = 3000000007"
            )
            conn.commit()
            run = job.run(spark, config, ["accounts"])
            assert (run.rows_read, run.rows_written) == (1, 1)
            assert reconcile(spark, config, "postgres", spec).equal
        finally:
            conn.execute("TRUNCATE TABLE core.accounts")
            conn.commit()
