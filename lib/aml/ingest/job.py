"""``aml ingest`` / ``jobs/ingest_jdbc.py``: source tables into bronze, incrementally.

Per table: read the watermark, ask the source for the increment's bounds, read it in parallel,
upsert it into bronze, and only then move the watermark. A crash anywhere leaves either the old
bronze version (the Delta commit is atomic) or new bronze with the old watermark, and the next run
re-reads the overlap as no-op upserts: no duplicates, no gaps.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aml import failpoints
from aml.config import Config, ConfigError, load_config
from aml.ingest import bronze
from aml.ingest.jdbc import plan_increment, read_increment
from aml.ingest.spec import TableSpec, select_tables
from aml.ops import JobRun, commit_watermark, read_watermark, recorded_run
from aml.sources.db import SourceError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

log = logging.getLogger(__name__)
JOB = "ingest_jdbc"


def ingest_table(
    spark: SparkSession,
    config: Config,
    run: JobRun,
    source: str,
    spec: TableSpec,
    full_refresh: bool = False,
) -> int:
    """Ingests one table; returns the number of rows written to bronze."""
    started = time.monotonic()
    path = config.table_path("bronze", spec.name)
    mark = None if full_refresh else read_watermark(spark, config, source, spec.name)
    lookback = int(config.section("ingest").get("lookback_seconds", 0))
    inc = plan_increment(config, source, spec, mark, lookback)
    run.rows_read += inc.rows
    if inc.rows == 0 and not full_refresh:
        log.info("%s: no rows since watermark %s", spec.name, mark.value if mark else "-")
        return 0
    inc_df = bronze.with_ingest_metadata(
        read_increment(spark, config, source, spec, inc),
        source=source,
        run_id=run.run_id,
        ingested_at=run.started_at,
    )
    if full_refresh:
        written, version = bronze.overwrite(spark, path, inc_df)
    else:
        written, version = bronze.upsert(spark, path, inc_df, spec.primary_key)
    if version is not None:
        run.table_versions[f"bronze.{spec.name}"] = version
    failpoints.hit("after_bronze_commit")
    # Only after the bronze commit that covers it.
    if inc.new_mark is not None:
        commit_watermark(spark, config, source, spec.name, inc.new_mark, run.run_id, version)
    failpoints.hit("after_watermark_commit")
    run.rows_written += written
    log.info(
        "%s: read %d, wrote %d rows to bronze (version %s) in %.1fs; watermark %s",
        spec.name,
        inc.rows,
        written,
        version,
        time.monotonic() - started,
        inc.new_mark.value if inc.new_mark else "-",
    )
    return written


def run(
    spark: SparkSession,
    config: Config,
    tables: list[str] | None = None,
    source: str | None = None,
    full_refresh: bool = False,
) -> JobRun:
    """Ingests the selected tables (default all) from ``source`` (default ``[ingest].source``)."""
    source_name = config.source(source)["name"]
    specs = select_tables(config, tables)
    args = {
        "tables": [s.name for s in specs],
        "source": source_name,
        "full_refresh": full_refresh,
        "env": config.name,
    }
    with recorded_run(spark, config, JOB, args) as job_run:
        for spec in specs:
            with job_run.phase(spec.name):
                ingest_table(spark, config, job_run, source_name, spec, full_refresh)
    return job_run


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--table",
        action="append",
        dest="tables",
        metavar="NAME",
        help="table from conf/tables.toml (repeatable; default: all)",
    )
    parser.add_argument(
        "--source", default=None, help="source from the environment (default: [ingest].source)"
    )
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="re-read everything and replace bronze, resetting the watermark",
    )


def execute(args: argparse.Namespace) -> int:
    """Runs the job for parsed arguments; the exit code says what failed."""
    from aml.spark import build_session

    config = load_config(args.env)
    spark = build_session(config, f"aml-{JOB}")
    try:
        result = run(spark, config, args.tables, args.source, args.full_refresh)
    except SourceError as exc:
        log.error("source unavailable, watermark unchanged: %s", exc)
        return 3
    except (ConfigError, bronze.SchemaDriftError) as exc:
        log.error("%s", exc)
        return 2
    print(
        f"ingest {result.run_id}: read {result.rows_read} rows, wrote {result.rows_written} "
        f"to bronze {result.table_versions}"
    )
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("ingest", help="incremental JDBC ingestion into bronze")
    add_arguments(parser)
    parser.set_defaults(func=execute)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jobs/ingest_jdbc.py`` (spark-submit)."""
    from aml.cli import job_main

    return job_main("ingest_jdbc", __doc__.splitlines()[0], add_arguments, execute, argv)


if __name__ == "__main__":
    sys.exit(main())
