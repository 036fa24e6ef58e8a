"""Benchmark of the synthetic SAML-D generator: wall time, rows/s and peak RSS per size.

Each size runs in its own child process (``generate`` and then one ``generate_increment``), so
the numbers include interpreter start-up and imports, as a user of ``aml generate`` sees them.
Peak RSS is the child's own ``ru_maxrss`` from ``os.wait4`` (the per-child form of
``getrusage(RUSAGE_CHILDREN)``, which would report the maximum over all children so far).

Usage::

    PYTHONPATH=lib .venv/bin/python bench/bench_generate.py            # 1M rows
    PYTHONPATH=lib .venv/bin/python bench/bench_generate.py --full     # 1M and 10M rows
    PYTHONPATH=lib .venv/bin/python bench/bench_generate.py --rows 10000000

Writes ``var/bench/generate.json`` and prints a markdown table.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CHILD = """
import logging, sys
logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
from aml.generate.generator import generate
from aml.generate.increment import generate_increment
if sys.argv[1] == "generate":
    generate(sys.argv[2], int(sys.argv[3]), seed=int(sys.argv[4]))
else:
    generate_increment(sys.argv[2])
"""


def run_child(args: list[str]) -> dict[str, float]:
    """Runs one child and returns its wall seconds and peak RSS in MiB."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "lib")}
    started = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-c", CHILD, *args], env=env)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"child {args} failed with exit code {proc.returncode}")
    return {"wall_s": round(wall, 2), "peak_rss_mib": round(usage.ru_maxrss / 1024, 1)}


def bench(rows: int, seed: int, out: Path, keep: bool) -> dict[str, Any]:
    folder = out / f"rows-{rows}"
    shutil.rmtree(folder, ignore_errors=True)
    gen = run_child(["generate", str(folder), str(rows), str(seed)])
    inc = run_child(["increment", str(folder)])
    manifest = json.loads((folder / "manifest.json").read_text())
    inc_manifest = json.loads((folder / "increments/0001/manifest.json").read_text())
    size = manifest["files"]["transactions.csv"]["bytes"]
    if not keep:
        shutil.rmtree(folder, ignore_errors=True)
    return {
        "rows": rows,
        "days": manifest["days"],
        "csv_mib": round(size / 2**20, 1),
        **gen,
        "rows_per_s": round(rows / gen["wall_s"]),
        "increment_rows": inc_manifest["rows"],
        "increment_updates": inc_manifest["updates"],
        "increment_wall_s": inc["wall_s"],
        "increment_peak_rss_mib": inc["peak_rss_mib"],
    }


def table(results: list[dict[str, Any]]) -> str:
    lines = [
        "| rows | days | CSV MiB | wall s | rows/s | peak RSS MiB | increment (rows + updates) s "
        "| increment peak RSS MiB |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in results:
        lines.append(
            f"| {r['rows']:,} | {r['days']} | {r['csv_mib']} | {r['wall_s']} | {r['rows_per_s']:,} "
            f"| {r['peak_rss_mib']} | {r['increment_wall_s']} ({r['increment_rows']:,} + "
            f"{r['increment_updates']:,}) | {r['increment_peak_rss_mib']} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[1_000_000])
    parser.add_argument("--full", action="store_true", help="1M and 10M rows")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--out", type=Path, default=ROOT / "var" / "bench" / "generate-data")
    parser.add_argument("--keep", action="store_true", help="keep the generated datasets")
    args = parser.parse_args(argv)
    sizes = [1_000_000, 10_000_000] if args.full else sorted(args.rows)
    results = [bench(rows, args.seed, args.out, args.keep) for rows in sizes]
    report = {
        "machine": {
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "seed": args.seed,
        "results": results,
    }
    target = ROOT / "var" / "bench" / "generate.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(table(results))
    print(f"\nwritten {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
