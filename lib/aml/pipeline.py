"""``aml demo``: the pipeline end to end on local defaults, ending with a summary.

Generate a SAML-D dataset (skipped when the same rows and seed exist), bulk-load it into the
source database, ingest it into bronze and build silver, then add daily increments (new rows and
corrections) and run both again, proving the incremental path. Each step is idempotent, so
running the demo twice gives the same tables. Encryption keys are created on first use in the
git-ignored key file unless the environment provides them.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path
from typing import Any

from aml.config import Config, load_config

log = logging.getLogger(__name__)


def _step(name: str) -> float:
    log.info("== %s", name)
    return time.monotonic()


def ensure_dataset(out: Path, rows: int, seed: int, increments: int) -> dict[str, Any]:
    """The dataset at ``out`` with ``increments`` daily increments, generated only if missing."""
    from aml.generate.generator import generate
    from aml.generate.increment import generate_increment

    manifest_file = out / "manifest.json"
    manifest = json.loads(manifest_file.read_text()) if manifest_file.is_file() else None
    if not manifest or manifest.get("rows") != rows or manifest.get("seed") != seed:
        manifest = generate(out, rows=rows, seed=seed)
    done = sorted(p for p in (out / "increments").glob("[0-9]*") if (p / "manifest.json").is_file())
    for _ in range(len(done), increments):
        generate_increment(out)
    return manifest


def _stage(ingest_run: Any, silver_run: Any, gold_run: Any, started: float) -> dict[str, Any]:
    return {
        "bronze_rows_written": ingest_run.rows_written,
        "silver_rows_written": silver_run.rows_written,
        "quarantined": silver_run.rows_quarantined,
        "gold_changes": gold_run.rows_written,
        "seconds": round(time.monotonic() - started, 1),
    }


def ensure_keys(config: Config) -> None:
    """Creates the git-ignored key file on first use, unless the environment holds the keys."""
    from aml.crypto.keys import init_key_file, key_file_path, keys_in_environment

    if not keys_in_environment() and not key_file_path(config).is_file():
        log.info("creating encryption keys in %s (mode 0600)", key_file_path(config))
        init_key_file(config)


def run(
    config: Config, rows: int, seed: int, increments: int, source: str | None, skip_services: bool
) -> dict[str, Any]:
    """Runs every stage that exists and returns the summary."""
    from aml.gold import job as gold_job
    from aml.ingest import job as ingest_job
    from aml.ingest.reconcile import reconcile
    from aml.ingest.spec import load_table_specs
    from aml.silver import job as silver_job
    from aml.sources import loader
    from aml.spark import build_session

    started = time.monotonic()
    source_name = config.source(source)["name"]
    summary: dict[str, Any] = {"environment": config.name, "source": source_name}
    if not skip_services:
        from aml.services import manager

        _step("services")
        manager.up(config)
    t = _step(f"generate {rows:,} rows (seed {seed}) + {increments} increment(s)")
    dataset = config.data_dir / f"demo-{rows}-{seed}"
    manifest = ensure_dataset(dataset, rows, seed, increments)
    summary["dataset"] = {
        "path": str(dataset),
        "rows": manifest["rows"],
        "seconds": round(time.monotonic() - t, 1),
    }
    t = _step(f"load base dataset into {source_name}")
    results = loader.load(config, source_name, dataset=dataset)
    summary["load_base"] = {r.table: r.rows for r in results}
    ensure_keys(config)
    spark = build_session(config, "aml-demo")
    t = _step("ingest into bronze, build silver and gold (initial)")
    first = ingest_job.run(spark, config, None, source_name)
    silver_first = silver_job.run(spark, config)
    summary["initial"] = _stage(first, silver_first, gold_job.run(spark, config), t)
    names = loader.list_increments(dataset)[:increments]
    if names:
        t = _step(f"load increment(s) {', '.join(names)}, ingest, build silver and gold again")
        loader.load(config, source_name, dataset=dataset, increments=names)
        nxt = ingest_job.run(spark, config, None, source_name)
        silver_next = silver_job.run(spark, config)
        summary["incremental"] = _stage(nxt, silver_next, gold_job.run(spark, config), t)
    _step("reconcile bronze with the source")
    specs = load_table_specs(config)
    checks = {name: reconcile(spark, config, source_name, spec) for name, spec in specs.items()}
    summary["bronze"] = {
        name: {"rows": r.bronze_rows, "equals_source": r.equal} for name, r in checks.items()
    }
    summary["tables"] = {
        f"{layer}.{table}": spark.read.format("delta").load(config.table_path(layer, table)).count()
        for layer, table in (
            ("silver", "transactions"),
            ("silver", "accounts"),
            ("silver", "customers"),
            ("quarantine", "transactions"),
            ("gold", "suspicious_transactions"),
            ("gold", "alerts"),
        )
    }
    summary["seconds"] = round(time.monotonic() - started, 1)
    summary["ok"] = all(r.equal for r in checks.values())
    return summary


def print_summary(summary: dict[str, Any]) -> None:
    print("\nAML lakehouse demo: summary")
    print(f"  environment {summary['environment']}, source {summary['source']}")
    ds = summary["dataset"]
    print(f"  dataset     {ds['rows']:,} generated rows in {ds['path']}")
    for key in ("initial", "incremental"):
        if key in summary:
            s = summary[key]
            print(
                f"  {key:<11} bronze +{s['bronze_rows_written']:,} rows, silver "
                f"+{s['silver_rows_written']:,} rows, {s['quarantined']:,} quarantined, "
                f"{s['gold_changes']:,} gold hit/alert changes ({s['seconds']} s)"
            )
    for name, b in summary["bronze"].items():
        state = "equals source" if b["equals_source"] else "DIFFERS FROM SOURCE"
        print(f"  bronze.{name:<13} {b['rows']:>10,} rows  ({state})")
    for name, rows in summary["tables"].items():
        print(f"  {name:<23} {rows:>10,} rows")
    print(
        "  (silver and quarantine hold account numbers, names and dates of birth only as "
        "Fernet ciphertext and keyed tokens)"
    )
    print(f"  total       {summary['seconds']} s -> {'OK' if summary['ok'] else 'FAILED'}")


def _cmd_demo(args: argparse.Namespace) -> int:
    config = load_config(args.env)
    summary = run(config, args.rows, args.seed, args.increments, args.source, args.skip_services)
    print_summary(summary)
    return 0 if summary["ok"] else 1


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("demo", help="run the pipeline end to end on a small dataset")
    parser.add_argument("--rows", type=int, default=100_000, help="generated rows (default 100k)")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--increments", type=int, default=1, help="daily increments to add")
    parser.add_argument("--source", default=None, help="source database (default: [ingest].source)")
    parser.add_argument(
        "--skip-services",
        action="store_true",
        help="do not start local services (they run elsewhere, e.g. docker-compose)",
    )
    parser.set_defaults(func=_cmd_demo)
