"""One changed silver row, the rule pack's scoped evaluation: this code against an earlier commit.

What an increment of one row costs gold before anything is written: the scope of the change
(:func:`aml.gold.scope.build_scope`) and the evaluation of every enabled rule inside it
(:func:`aml.gold.evaluation.evaluate`, materialised), in a warm Spark session on a lake's silver
held in memory as the gold job holds it (the columns the rules read).
Nothing is written: each round picks a silver row (the same rows for both versions) and takes it
as its own change (old and new image).

The two versions run alternately, each round in a fresh process of each (``--rounds`` of each):
the code of this checkout, and that of ``--baseline`` (a commit, checked out once as a git
worktree under var/bench/). Each process first evaluates one uncounted row (the warm-up: class
loading and the JIT), then ``--rows`` counted ones. The report is each version's median of its
counted rows and their ratio, and the rows each version's rules read (its log). The evaluation
is also split into its parts (:data:`KEYS`): building the hits' plan (the ``evaluate()`` call:
the scoped row sets it materialises and the analysis of every rule's SQL), optimising it and
running it, and the Spark jobs it started. ``--compare-hold`` measures, instead of two
commits, this checkout with silver held whole (as the gold job held it up to 7b6ce4b) against
only the columns the rules read (as it holds it since), each row over both in one process, in
alternating order. ``--compare-settings`` measures this checkout under the session's Spark
settings (``session``) against other values of some of them (``set``), each row's scope and
evaluation under both in one process, in alternating order.

Usage (after ``bench/bench_pipeline.py --rows N --full-only`` built var/bench/pipeline-lake)::

    .venv/bin/python bench/bench_scoped_evaluation.py --baseline <commit> [--rounds 2] [--rows 2]
    .venv/bin/python bench/bench_scoped_evaluation.py --compare-hold [--rounds 1] [--rows 2]
    .venv/bin/python bench/bench_scoped_evaluation.py \
        --compare-settings spark.sql.adaptive.enabled=false,spark.sql.shuffle.partitions=1

Writes ``var/bench/scoped-evaluation.json`` (``--out``).
"""

from __future__ import annotations

import argparse
import inspect
import json
import logging
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
VAR = ROOT / "var" / "bench"


# per counted row: the scope; the evaluation, and its parts: the evaluate() call (the scoped row
# sets it materialises, the analysis of every rule's plan), the optimiser, the run (physical
# planning and the jobs); the Spark jobs the evaluation started
KEYS = ("scope_s", "evaluate_s", "build_s", "optimise_s", "execute_s", "evaluate_jobs", "total_s")
# the build's parts: functions of aml.gold.evaluation timed where the build calls them (the
# outermost call counts: a union inside a walk is the walk's), and the rules' SQL (spark.sql).
# Since the row sets are found in the driver (aml.gold.row_index), the walks and the subjects'
# sets are numpy; the collects they read (the scope, the index) and the reads of the rows found
# are parts of their own (an older version has none of them)
PARTS = {
    "reached_rows_s": ("_reached_rows",),
    "subject_rows_s": ("_widened", "_subject_rows"),
    "driver_rows_s": ("scope_entries", "RowIndex.of"),
    "row_fetch_s": ("rows_by_id",),
    "identity_s": ("with_identity",),
    "union_s": ("union_all",),
}
SQL_PART = "rules_sql_s"
PART_KEYS = (*PARTS, SQL_PART)


class _Parts:
    """Cumulative seconds of the build's parts (:data:`PART_KEYS`) of one row."""

    def __init__(self, evaluation, spark) -> None:
        self.seconds: dict[str, float] = {}
        self._depth = 0
        for part, names in PARTS.items():
            for name in names:
                *path, attribute = name.split(".")
                owner = evaluation
                for step in path:
                    owner = getattr(owner, step, None)
                if hasattr(owner, attribute):  # an older version may lack one
                    setattr(owner, attribute, self._timed(part, getattr(owner, attribute)))
        spark.sql = self._timed(SQL_PART, spark.sql)

    def _timed(self, part: str, function):
        def timed(*args, **kwargs):
            self._depth += 1
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self._depth -= 1
                if self._depth == 0:
                    elapsed = time.perf_counter() - started
                    self.seconds[part] = self.seconds.get(part, 0.0) + elapsed

        return timed

    def take(self) -> dict[str, float]:
        """This row's parts (every part, 0 when not called), and a fresh start."""
        out = {part: round(self.seconds.get(part, 0.0), 2) for part in PART_KEYS}
        self.seconds = {}
        return out


def _measure(lake: str, rows: int, holds: list[str], settings: dict[str, str] | None) -> None:
    """The child: warm-up plus ``rows`` counted rows, one JSON line per row and hold on stdout.

    ``holds``: how silver is held, ``all`` its columns (as the gold job held it up to 7b6ce4b)
    and/or ``rules`` only the columns the rules read (:data:`aml.gold.evaluation.RULE_INPUT_SCHEMA`,
    as the gold job holds it since);
    with both, each row is evaluated over each, in alternating order, in this one process.
    ``settings``: Spark settings under which each row is also evaluated (variant ``set``,
    against the session's own, ``session``), in alternating order, over the rules' columns."""
    import datetime as dt

    from pyspark.sql import functions as F

    from aml import frames, spark_jobs
    from aml.config import load_config
    from aml.gold import evaluation, rulepack, scope
    from aml.spark import build_session

    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(name)s %(message)s")
    config = load_config("local")
    spark = build_session(config, "bench-scoped-evaluation")
    # held in memory, as the gold job holds it (aml.frames.materialise: one scan of the files)
    read_df = spark.read.format("delta").load(f"{lake}/silver/transactions")
    rule_columns = list(evaluation.RULE_INPUT_COLUMNS)
    held = {
        hold: frames.materialise(read_df if hold == "all" else read_df.select(*rule_columns))
        for hold in holds
    }
    pack = rulepack.load(config, "v2")
    lineage = evaluation.Lineage(0, "bench", dt.datetime(2026, 1, 1, tzinfo=dt.UTC))
    policy = evaluation.ScopePolicy.from_settings(config.data.get("gold", {}))
    parts = _Parts(evaluation, spark)
    shares_index = "index" in inspect.signature(scope.build_scope).parameters
    if shares_index:
        from aml.gold.row_index import RowIndex
    any_df = next(iter(held.values()))
    variants = [(hold, hold, {}) for hold in holds]
    if settings:
        variants = [("session", "rules", {}), ("set", "rules", settings)]
    for n in range(rows + 1):
        row_ids = [r.transaction_id for r in any_df.orderBy(F.rand(n)).limit(1).collect()]
        for variant, hold, changed in variants if n % 2 == 0 else variants[::-1]:
            silver_df = held[hold]
            before = {key: spark.conf.get(key, None) for key in changed}
            for key, value in changed.items():
                spark.conf.set(key, value)
            row_df = silver_df.where(F.col("transaction_id").isin(row_ids))
            images_df = row_df.unionByName(row_df).localCheckpoint()
            started = time.perf_counter()
            # since the scope walks silver's row index, the gold job builds the index once for
            # the scope and the evaluation (an older version has neither the index nor the
            # argument): its time is the scope's
            shared = {"index": RowIndex.of(silver_df)} if shares_index else {}
            scope_df = scope.build_scope(images_df, silver_df, pack, **shared).localCheckpoint()
            entries = scope_df.count()
            scoped = time.perf_counter()
            parts.take()  # the scope's own calls are not the evaluation's
            first_job = spark_jobs.job_ids(spark)
            hits_df = evaluation.evaluate(
                spark, silver_df, pack, lineage, scope_df, policy, **shared
            )
            built = time.perf_counter()
            hits_df._jdf.queryExecution().optimizedPlan()  # noqa: SLF001 - the phases apart
            optimised = time.perf_counter()
            hits = hits_df.localCheckpoint().count()
            done = time.perf_counter()
            jobs = len(spark_jobs.finished_jobs(spark, first_job))
            for key, value in before.items():
                if value is None:
                    spark.conf.unset(key)
                else:
                    spark.conf.set(key, value)
            print(
                json.dumps(
                    {
                        "row": n,
                        "hold": hold,
                        "variant": variant,
                        "warm_up": n == 0,
                        "scope_entries": entries,
                        "hits": hits,
                        "scope_s": round(scoped - started, 2),
                        "evaluate_s": round(done - scoped, 2),
                        "build_s": round(built - scoped, 2),
                        "optimise_s": round(optimised - built, 2),
                        "execute_s": round(done - optimised, 2),
                        "evaluate_jobs": jobs,
                        **parts.take(),
                        "total_s": round(done - started, 2),
                    }
                ),
                flush=True,
            )
    spark.stop()


def _worktree(commit: str) -> Path:
    """The baseline commit checked out under var/bench/ (once), sharing this checkout's var/."""
    sha = subprocess.run(
        ["git", "rev-parse", "--verify", f"{commit}^{{commit}}"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    ).stdout.strip()  # fmt: skip
    path = VAR / f"baseline-{sha[:12]}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), sha], cwd=ROOT, check=True)
        (path / "var").symlink_to(ROOT / "var")  # the resolved jars, the class archive
    return path


def _run(
    version: str,
    source: Path,
    lake: str,
    rows: int,
    log_path: Path,
    holds: str = "rules",
    settings: str = "",
) -> list[dict]:
    env = {**os.environ, "PYTHONPATH": str(source / "lib"), "PYTHONUNBUFFERED": "1"}
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--lake", lake]
    with log_path.open("a") as log:
        log.write(f"--- {version} ({source})\n")
        log.flush()
        proc = subprocess.run(
            [*command, "--rows", str(rows), "--holds", holds, "--settings", settings],
            env=env, stdout=subprocess.PIPE, stderr=log, text=True, timeout=3600, check=False,
        )  # fmt: skip
    if proc.returncode != 0:
        raise SystemExit(f"{version} failed (exit {proc.returncode}); see {log_path}")
    results = [json.loads(line) for line in proc.stdout.splitlines() if line.startswith("{")]
    for result in results:
        print(f"  {version}: {json.dumps(result)}", flush=True)
    return results


def _reads(log_path: Path) -> dict[str, list[str]]:
    """Each version's 'rows read' decisions, from the children's log."""
    out: dict[str, list[str]] = {}
    version = ""
    for line in log_path.read_text().splitlines():
        if line.startswith("--- "):
            version = line.split()[1]
        elif "scoped evaluation over" in line:
            out.setdefault(version, []).append(line.split("gold: ", 1)[-1])
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", help="the commit to compare with")
    parser.add_argument("--lake", default=str(VAR / "pipeline-lake" / "lake"))
    parser.add_argument("--rounds", type=int, default=2, help="processes of each version")
    parser.add_argument("--rows", type=int, default=2, help="counted rows per process")
    parser.add_argument("--out", type=Path, default=VAR / "scoped-evaluation.json")
    parser.add_argument(
        "--compare-hold",
        action="store_true",
        help="instead of two commits: this checkout with silver held whole ('all', as the gold "
        "job held it up to 7b6ce4b) against only the rules' columns ('rules', as it holds it "
        "since), each row over both in one process",
    )
    parser.add_argument(
        "--compare-settings",
        metavar="KEY=VALUE,...",
        help="instead of two commits: this checkout under the session's Spark settings "
        "('session') against these ('set'), each row under both in one process",
    )
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--settings", default="", help=argparse.SUPPRESS)
    parser.add_argument("--holds", default="rules", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        pairs = [item.split("=", 1) for item in args.settings.split(",") if item]
        _measure(args.lake, args.rows, args.holds.split(","), dict(pairs) or None)
        return 0
    if not (args.baseline or args.compare_hold or args.compare_settings):
        parser.error("--baseline (or --compare-hold, or --compare-settings) is required")
    if not Path(args.lake, "silver", "transactions").exists():
        parser.error(f"no silver under {args.lake}: run bench/bench_pipeline.py --full-only first")
    log_path = args.out.with_suffix(".log")
    log_path.unlink(missing_ok=True)
    if args.compare_hold:
        results: dict[str, list[dict]] = {"all": [], "rules": []}
        for round_no in range(args.rounds):
            print(f"round {round_no + 1}/{args.rounds}: current, both holds", flush=True)
            for result in _run("current", ROOT, args.lake, args.rows, log_path, "all,rules"):
                results[result["variant"]].append(result)
    elif args.compare_settings:
        results = {"session": [], "set": []}
        for round_no in range(args.rounds):
            print(f"round {round_no + 1}/{args.rounds}: current, both settings", flush=True)
            for result in _run(
                "current", ROOT, args.lake, args.rows, log_path, settings=args.compare_settings
            ):
                results[result["variant"]].append(result)
    else:
        versions = {"baseline": _worktree(args.baseline), "current": ROOT}
        results = {name: [] for name in versions}
        for round_no in range(args.rounds):
            for name, source in versions.items():
                print(f"round {round_no + 1}/{args.rounds}: {name}", flush=True)
                results[name] += _run(name, source, args.lake, args.rows, log_path)
    first, second = results  # the reference, then the one measured against it
    medians = {
        name: {
            key: round(statistics.median(r[key] for r in rows if not r["warm_up"]), 2)
            for key in (*KEYS, *PART_KEYS)
        }
        for name, rows in results.items()
    }
    report = {
        "command": "bench/bench_scoped_evaluation.py " + " ".join(sys.argv[1:]),
        "baseline": args.baseline,
        "lake": args.lake,
        "medians": medians,
        f"ratio_{second}_to_{first}": {
            key: round(medians[second][key] / medians[first][key], 3)
            for key in medians[second]
            if medians[first][key]
        },
        "rows_read": _reads(log_path),
        "results": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2) + "\n")
    for keys in (KEYS, ("build_s", *PART_KEYS)):
        print("\n| version | " + " | ".join(keys) + " |\n|---|" + "---:|" * len(keys))
        for name, m in medians.items():
            print(f"| {name} | " + " | ".join(str(m[key]) for key in keys) + " |")
    print(f"ratios ({second} / {first}): {report[f'ratio_{second}_to_{first}']}; {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
