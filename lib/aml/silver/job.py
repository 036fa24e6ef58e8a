"""``aml build silver`` / ``jobs/build_silver.py``: bronze changes into silver and quarantine.

Incremental by Delta change data feed: each silver table records (in ``ops.watermarks``, source
``bronze``) the bronze version it has consumed; a run reads the changes after it, builds, and
merges by key. Commit order per table: silver, then quarantine, then the consumed version. A
crash anywhere leaves the version unmoved, and the rerun's merges are idempotent (keyed upserts
and deletes of the same rows), so the tables end the same.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aml import delta_io, failpoints, reference
from aml.config import Config, ConfigError, load_config
from aml.crypto.keys import load_keyring
from aml.ops import JobRun, Watermark, commit_watermark, read_watermark, recorded_run, utcnow
from aml.silver import parties, transactions
from aml.silver.checks import combine, load_checks
from aml.silver.conform import with_text_fields

log = logging.getLogger(__name__)
JOB = "build_silver"
PROGRESS_SOURCE = "bronze"


def _write(
    spark: SparkSession,
    path: str,
    df: DataFrame,
    key: str,
    delete_keys_df: DataFrame,
    full_refresh: bool,
) -> int:
    """Upserts ``df`` (and deletes ``delete_keys_df``) into ``path``; returns the new version."""
    if full_refresh or not delta_io.exists(spark, path):
        df.write.format("delta").mode("overwrite").option("overwriteSchema", "true").save(path)
    else:
        delta_io.merge_upsert_delete(spark, path, df, delete_keys_df, key, df.columns)
    return delta_io.current_version(spark, path)


@dataclass(frozen=True)
class TransactionFeed:
    """A bronze table that feeds silver.transactions, and how its rows become silver input.

    Attributes:
        bronze_table: the bronze table whose change feed is read.
        progress: ``(source, table)`` of the consumed bronze version in ``ops.watermarks``.
        to_raw: bronze change rows -> the silver input contract (text fields, ``updated_at``,
            ``_source``, ``_source_ref``).
        checks: the check files (``conf/checks/<name>.toml``) judging the rows, in order.
    """

    bronze_table: str
    progress: tuple[str, str]
    to_raw: Callable[[DataFrame], DataFrame]
    checks: tuple[str, ...] = ("transactions",)


def _jdbc_raw(changes_df: DataFrame) -> DataFrame:
    return with_text_fields(changes_df).withColumn(
        "_source_ref",
        F.concat(F.lit("bronze.transactions@v"), F.col("_commit_version").cast("string")),
    )


JDBC_FEED = TransactionFeed("transactions", (PROGRESS_SOURCE, "silver.transactions"), _jdbc_raw)


def _changes(
    spark: SparkSession,
    config: Config,
    bronze_table: str,
    progress: tuple[str, str],
    full_refresh: bool,
) -> tuple[DataFrame | None, int | None, int]:
    """(changed bronze rows, version consumed before, newest bronze version) of a table."""
    bronze_path = config.table_path("bronze", bronze_table)
    if not delta_io.exists(spark, bronze_path):
        raise ConfigError(f"bronze.{bronze_table} does not exist yet: run `aml ingest` first")
    upto = delta_io.current_version(spark, bronze_path)
    mark = None if full_refresh else read_watermark(spark, config, *progress)
    after = int(mark.value) if mark else None
    if after is not None and after >= upto:
        return None, after, upto
    return delta_io.changes_between(spark, bronze_path, after, upto), after, upto


def _record_progress(
    spark: SparkSession,
    config: Config,
    run: JobRun,
    progress: tuple[str, str],
    upto: int,
    version: int,
) -> None:
    table = progress[1]
    failpoints.hit(f"before_silver_progress_{table.removeprefix('silver.')}")
    mark = Watermark(str(upto), None)
    commit_watermark(spark, config, *progress, mark, run.run_id, version)
    run.table_versions[table] = version


def build_party_table(
    spark: SparkSession, config: Config, run: JobRun, ctx, table: str, full_refresh: bool
) -> None:
    progress = (PROGRESS_SOURCE, f"silver.{table}")
    changes_df, _, upto = _changes(spark, config, table, progress, full_refresh)
    if changes_df is None:
        log.info("silver.%s: bronze unchanged since version %d", table, upto)
        return
    builder, key = {
        "accounts": (parties.build_accounts, "account_number_token"),
        "customers": (parties.build_customers, "customer_id"),
    }[table]
    built_df = builder(changes_df, ctx)
    path = config.table_path("silver", table)
    no_deletes = built_df.select(key).limit(0)
    version = _write(spark, path, built_df, key, no_deletes, full_refresh)
    run.rows_written += delta_io.rows_written(delta_io.last_commit(spark, path)[1])
    _record_progress(spark, config, run, progress, upto, version)


def build_transactions(
    spark: SparkSession,
    config: Config,
    run: JobRun,
    ctx: transactions.SilverContext,
    full_refresh: bool,
    feed: TransactionFeed = JDBC_FEED,
    overwrite: bool | None = None,
) -> bool:
    """Builds silver.transactions and quarantine from ``feed``'s new bronze rows (all of them
    with ``full_refresh``, replacing the tables unless ``overwrite`` is False); returns whether
    there was anything to build."""
    overwrite = full_refresh if overwrite is None else overwrite
    changes_df, _, upto = _changes(spark, config, feed.bronze_table, feed.progress, full_refresh)
    if changes_df is None:
        log.info("silver.transactions: bronze.%s unchanged since version %d",
                 feed.bronze_table, upto)  # fmt: skip
        return False
    if feed.checks != ("transactions",):
        suite = combine([load_checks(config, name) for name in feed.checks])
        ctx = replace(ctx, suite=suite)
    raw_df = feed.to_raw(changes_df).persist()
    run.rows_read += raw_df.count()
    accounts_df = _optional(spark, config.table_path("silver", "accounts"))
    customers_df = _optional(spark, config.table_path("silver", "customers"))
    silver_df, quarantine_df = transactions.build(raw_df, ctx, accounts_df, customers_df)
    silver_path = config.table_path("silver", "transactions")
    q_path = config.table_path("quarantine", "transactions")
    good_ids = silver_df.select(F.col("transaction_id").cast("string").alias("quarantine_key"))
    bad_ids = quarantine_df.where("transaction_id IS NOT NULL").select("transaction_id")
    version = _write(spark, silver_path, silver_df, "transaction_id", bad_ids, overwrite)
    run.rows_written += delta_io.rows_written(delta_io.last_commit(spark, silver_path)[1])
    failpoints.hit("after_silver_commit")
    q_version = _write(spark, q_path, quarantine_df, "quarantine_key", good_ids, overwrite)
    run.rows_quarantined += delta_io.rows_written(delta_io.last_commit(spark, q_path)[1])
    run.table_versions["quarantine.transactions"] = q_version
    _record_progress(spark, config, run, feed.progress, upto, version)
    raw_df.unpersist()
    return True


def _optional(spark: SparkSession, path: str) -> DataFrame | None:
    return spark.read.format("delta").load(path) if delta_io.exists(spark, path) else None


def context(config: Config, encrypt: bool = True) -> transactions.SilverContext:
    return transactions.SilverContext(
        ref=reference.load(config),
        suite=load_checks(config, "transactions"),
        keyring=load_keyring(config),
        processed_at=utcnow().replace(microsecond=0),
        encrypt=encrypt,
    )


def run(
    spark: SparkSession, config: Config, full_refresh: bool = False, encrypt: bool = True
) -> JobRun:
    """Builds silver.customers, silver.accounts, then silver.transactions (+ quarantine)."""
    args = {"full_refresh": full_refresh, "env": config.name}
    with recorded_run(spark, config, JOB, args) as job_run:
        ctx = context(config, encrypt)
        parties = [
            t for t in ("customers", "accounts")
            if delta_io.exists(spark, config.table_path("bronze", t))
        ]  # fmt: skip
        for table in parties:
            with job_run.phase(table):
                build_party_table(spark, config, job_run, ctx, table, full_refresh)
        feeds = transaction_feeds(spark, config)
        if not feeds and not parties:
            raise ConfigError("bronze is empty: run `aml ingest` (or `aml stream`) first")
        if not feeds:
            log.warning("silver.transactions: no transactions in bronze yet")
        for n, feed in enumerate(feeds):
            # a full refresh replaces silver once, with the first feed; the others merge into it
            overwrite = full_refresh and n == 0
            with job_run.phase(f"transactions from {feed.bronze_table}"):
                build_transactions(spark, config, job_run, ctx, full_refresh, feed, overwrite)
    return job_run


def transaction_feeds(spark: SparkSession, config: Config) -> list[TransactionFeed]:
    """The feeds of silver.transactions whose bronze table exists: JDBC ingestion's
    ``bronze.transactions`` and the streaming job's ``bronze.transaction_events`` (a batch run
    catches up on events the streaming job has landed but not yet built, e.g. while it is down).
    """
    from aml.stream.batch import events_feed
    from aml.stream.job import settings as stream_settings

    stream = events_feed(int(stream_settings(config)["max_message_bytes"]))
    return [
        feed
        for feed in (JDBC_FEED, stream)
        if delta_io.exists(spark, config.table_path("bronze", feed.bronze_table))
    ]


def execute(args: argparse.Namespace) -> int:
    from aml.spark import build_session

    config = load_config(args.env)
    spark = build_session(config, f"aml-{JOB}")
    started = time.monotonic()
    try:
        result = run(spark, config, args.full_refresh)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    print(
        f"silver {result.run_id}: read {result.rows_read} bronze rows, wrote "
        f"{result.rows_written}, quarantined {result.rows_quarantined} in "
        f"{time.monotonic() - started:.1f}s; versions {result.table_versions}"
    )
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="rebuild silver and quarantine from the whole of bronze",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jobs/build_silver.py`` (spark-submit)."""
    from aml.cli import job_main

    return job_main("build_silver", __doc__.splitlines()[0], add_arguments, execute, argv)


if __name__ == "__main__":
    sys.exit(main())
