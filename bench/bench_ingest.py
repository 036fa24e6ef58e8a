"""Benchmark of incremental JDBC ingestion: a full load of N rows, then a 1 % increment.

Measured in one run, on one Spark session, against a private PostgreSQL started for the bench
(own folder, own free port: the user's data and services are never touched):

1. generate N SAML-D rows (``aml generate``) and bulk-load them with ``aml load``;
2. age the loaded rows by one day (the table's trigger is disabled for that one statement), so
   the source looks like a table filled before the increment's look-back window, as in steady
   state; without it, a bulk load minutes before the increment would sit inside the 600 s
   look-back and be re-read (correctly, but that is not the case the increment is about);
3. warm the session up on the small ``accounts`` table (a load, a change, an incremental MERGE),
   so neither measured step pays the JVM's first-use costs alone;
4. time the full load of ``transactions`` into bronze (rows/s);
5. change the source and time the incremental run, reporting its cost as a fraction of the
   full load (target: at most 15 % for a 1 % increment), for each of :data:`INCREMENTS` in turn:
   1 % of rows (half updates spread over the whole table, so every data file of bronze holds
   some; half new rows), the same with updates of recent rows, 1 % new rows only, and a single
   updated row (the fixed cost of any increment). The look-back re-reads the previous
   increment's rows each time (they are minutes old), as it does on a back-to-back schedule;
6. check bronze equals the source (count and checksum), untimed.

Usage::

    .venv/bin/python bench/bench_ingest.py [--rows 1000000] [--seed 11]

Prints a markdown table and writes ``var/bench/ingest.json``.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shutil
import sys
import time

from aml.config import PROJECT_ROOT, load_config
from aml.generate.generator import generate
from aml.ingest import job
from aml.ingest.reconcile import reconcile
from aml.ingest.spec import load_table_specs
from aml.services import isolated, manager
from aml.sources import db, loader
from aml.spark import build_session

log = logging.getLogger("bench.ingest")


def age_rows(config, days: int = 1) -> None:
    schema = db.schema_name(config, "postgres")
    with db.connect(config, "postgres") as conn:
        for table in db.STAMPED_TABLES:
            with db.stamps_kept(conn, schema, table):
                conn.execute(
                    f"UPDATE {schema}.{table} SET updated_at = updated_at - interval '{days} day'"
                )
        conn.commit()


# The increments, each 1 % of the table except the last: (updated rows, every n-th row copied
# as a new row). "{top}" is the largest id before the increment.
INCREMENTS = {
    # updates of every 200th id: every data file of bronze holds some (the worst case)
    "updates spread": ("transaction_id % 200 = 0", 200),
    # every 10th of the newest 50,000 ids: corrections of recent payments
    "updates recent": ("transaction_id > {top} - 50000 AND transaction_id % 10 = 0", 200),
    # new payments only, the usual increment of a transactions table
    "new rows only": (None, 100),
    # one corrected row: what any increment costs however small (the floor)
    "one update": ("transaction_id = {top}", None),
}


def change(config, rows: int, case: str, new_from: int) -> tuple[int, int]:
    """Applies one of :data:`INCREMENTS` to the source; returns (rows updated, rows inserted).

    New rows are copies of earlier rows with ids from ``new_from`` up."""
    where, every = INCREMENTS[case]
    updated = inserted = 0
    with db.connect(config, "postgres") as conn:
        cur = conn.cursor()
        cur.execute(
            "SELECT MAX(transaction_id) FROM core.transactions WHERE transaction_id <= %s", (rows,)
        )
        top = cur.fetchone()[0]
        if where:
            where = where.format(top=top)
            cur.execute(f"UPDATE core.transactions SET amount = amount + 1 WHERE {where}")
            updated = cur.rowcount
        if every:
            cur.execute(
                "INSERT INTO core.transactions SELECT transaction_id + %s, time, date, "
                "sender_account, receiver_account, amount, payment_currency, "
                "received_currency, sender_bank_location, receiver_bank_location, payment_type, "
                "is_laundering, laundering_type FROM core.transactions "
                "WHERE transaction_id %% %s = 1 AND transaction_id <= %s",
                (new_from, every, rows),
            )
            inserted = cur.rowcount
        conn.commit()
    return updated, inserted


def warm_up(spark, config) -> None:
    job.run(spark, config, ["accounts"])
    with db.connect(config, "postgres") as conn:
        conn.cursor().execute(
            "UPDATE core.accounts SET bank_location = bank_location "
            "|| '' WHERE account_number % 100 = 0"
        )
        conn.commit()
    job.run(spark, config, ["accounts"])


def timed_ingest(spark, config, table: str) -> tuple[float, int, int]:
    """(seconds, rows written to bronze, rows read from the source) of one run."""
    started = time.perf_counter()
    run = job.run(spark, config, [table])
    return time.perf_counter() - started, run.rows_written, run.rows_read


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    base = load_config()
    config = isolated.isolated_config(base, prefix="aml-bench-ingest-")
    increments = []
    try:
        manager.up(config, only="postgres")
        dataset = base.path("var/bench/data") / f"saml_d-{args.rows}-{args.seed}"
        if not (dataset / "manifest.json").is_file():
            generate(dataset, rows=args.rows, seed=args.seed)
        loader.load(config, "postgres", dataset=dataset)
        age_rows(config)
        spark = build_session(config, "bench-ingest")
        warm_up(spark, config)
        full_s, full_rows, full_read = timed_ingest(spark, config, "transactions")
        for n, case in enumerate(INCREMENTS, start=1):
            updated, inserted = change(config, args.rows, case, n * args.rows)
            inc_s, inc_rows, inc_read = timed_ingest(spark, config, "transactions")
            increments.append(
                {
                    "increment": case,
                    "updated": updated,
                    "inserted": inserted,
                    "seconds": round(inc_s, 2),
                    "rows_written": inc_rows,
                    "rows_read": inc_read,
                    "cost_ratio": round(inc_s / full_s, 3),
                }
            )
        check = reconcile(spark, config, "postgres", load_table_specs(config)["transactions"])
        spark.stop()
    finally:
        manager.down(config)
        shutil.rmtree(isolated.scratch(config), ignore_errors=True)
    result = {
        "rows": args.rows,
        "full_seconds": round(full_s, 2),
        "full_rows_written": full_rows,
        "full_rows_per_second": round(full_rows / full_s),
        "source_rows_read_full": full_read,
        "increments": increments,
        "bronze_equals_source": check.equal,
        "machine": f"{platform.machine()}, {platform.python_version()}",
    }
    out = PROJECT_ROOT / "var" / "bench" / "ingest.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=2))
    print(
        "| rows | full load s | full rows/s | increment | updated + new | increment s | "
        "increment / full (time) | source rows read, increment / full |"
    )
    print("|---:|---:|---:|---|---:|---:|---:|---:|")
    for inc in increments:
        print(
            f"| {args.rows:,} | {full_s:.1f} | {full_rows / full_s:,.0f} | {inc['increment']} | "
            f"{inc['updated']:,} + {inc['inserted']:,} | {inc['seconds']:.1f} | "
            f"{inc['cost_ratio']:.1%} | {inc['rows_read']:,} / {full_read:,} |"
        )
    print(f"bronze equals the source after the increments: {check.equal}")
    written_ok = all(inc["rows_written"] == inc["updated"] + inc["inserted"] for inc in increments)
    return 0 if check.equal and written_ok else 1


if __name__ == "__main__":
    sys.exit(main())
