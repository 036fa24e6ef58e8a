"""One changed silver row, the profiles' scoped refresh: its rows from held silver or from files.

What the behavioural profiles' refresh (:func:`aml.gold.baselines.refresh`) costs after one
corrected silver row, split into its parts, with its rows read two ways in alternation in one
Spark session: from silver held in memory (the rules' columns, as the gold job holds them for
the hits and the profiles since :class:`aml.gold.job.HeldSilver`: ``held``) or from silver's
Delta files, every column (as the refresh read them before: ``files``). Each round corrects one
silver row (a Delta UPDATE of its amount, so the change feed holds it) and refreshes. After one
uncounted warm-up round, the two ways alternate, ``--rounds`` times each; the report is each
way's median, per part:

- ``scope``: the accounts and weeks the change reaches (``baselines.scope_of``);
- ``rows``: the scope's silver rows materialised (``aml.frames.materialise`` inside the
  refresh; for ``held`` the held silver itself is materialised before the clock starts, as the
  hits' evaluation did in the job);
- ``merge_accounts`` / ``merge_segments``: the two keyed MERGEs, each with the rows it
  computes (the profiles of the scope, the segments of its weeks);
- ``total``: the whole refresh, watermark read and commit included.

Usage (after ``bench/bench_pipeline.py --rows N --full-only`` built var/bench/pipeline-lake)::

    .venv/bin/python bench/bench_profile_refresh.py [--lake var/bench/pipeline-lake/lake] \
        [--rounds 2]

The lake is copied first (the original is not changed). Writes
``var/bench/profile-refresh.json`` (``--out``).
"""

from __future__ import annotations

import statistics
import sys
import time
import uuid

from aml import delta_io, frames
from aml.config import load_config
from aml.gold import baselines
from aml.gold.job import HeldSilver
from aml.spark import build_session
from bench_gold_scope import (  # this folder's (sys.path[0])
    copy_lake,
    correct_one_row,
    finish,
    lake_rounds_args,
)

WAYS = ("held", "files")
PARTS = ("scope", "rows", "merge_accounts", "merge_segments", "total")


class _Clock:
    """Seconds per part of one refresh, by wrapping the functions the refresh calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.counting = False
        self._wrap(baselines, "scope_of", lambda *a: "scope")
        self._wrap(frames, "materialise", lambda *a: "rows")
        self._wrap(
            delta_io,
            "merge_upsert_delete",
            lambda spark, path, *a: "merge_segments" if "segment" in path else "merge_accounts",
        )

    def _wrap(self, owner, name: str, part_of) -> None:
        function = getattr(owner, name)

        def timed(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                if self.counting:
                    part = part_of(*args)
                    elapsed = time.perf_counter() - started
                    self.seconds[part] = self.seconds.get(part, 0.0) + elapsed

        setattr(owner, name, timed)


class _Run:
    """What :func:`aml.gold.baselines.refresh` reads of the job's run: its id."""

    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex


def main(argv: list[str] | None = None) -> int:
    args = lake_rounds_args(__doc__, "profile-refresh.json", argv)
    lake = copy_lake(args.lake, "profile-refresh-lake", "gold/account_profiles")
    if lake is None:
        return 2
    # always scoped, whatever the lake's size
    config = load_config("local").with_lake(lake).with_settings("gold", profiles_scoped_min_rows=0)
    spark = build_session(config, "aml-bench-profile-refresh")
    silver_path = config.table_path("silver", "transactions")
    clock = _Clock()
    runs: dict[str, list[dict]] = {way: [] for way in WAYS}
    for round_no in range(args.rounds * len(WAYS) + 1):
        way = WAYS[round_no % len(WAYS)]
        correct_one_row(spark, silver_path, round_no)
        upto = delta_io.current_version(spark, silver_path)
        held = HeldSilver(spark, silver_path)
        files_df = spark.read.format("delta").option("versionAsOf", upto).load(silver_path)
        if way == "held":
            held.at(upto)  # held by the hits' evaluation before the refresh, in the job

        def rows(way=way, held=held, files_df=files_df, upto=upto):
            return held.at(upto) if way == "held" else files_df

        clock.seconds, clock.counting = {}, True
        started = time.perf_counter()
        try:
            baselines.refresh(spark, config, _Run(), rows, upto, False)
        finally:
            clock.counting = False
            held.close()
        parts = {part: round(clock.seconds.get(part, 0.0), 2) for part in PARTS}
        parts["total"] = round(time.perf_counter() - started, 2)
        label = f"round {(round_no + 1) // 2}" if round_no else "warm-up"
        print(f"  {way:<5} {label}: {parts}", flush=True)
        if round_no:
            runs[way].append(parts)
    medians = {
        way: {part: round(statistics.median(r[part] for r in runs[way]), 2) for part in PARTS}
        for way in WAYS
    }
    ratios = {
        part: round(medians["held"][part] / medians["files"][part], 3)
        for part in PARTS
        if medians["files"][part]
    }
    result = {
        "command": " ".join(["bench/bench_profile_refresh.py", *(argv or sys.argv[1:])]),
        "silver_rows": spark.read.format("delta").load(silver_path).count(),
        "rounds": args.rounds,
        "runs": runs,
        "medians": medians,
        "held_over_files": ratios,
    }
    print(f"\n{result['silver_rows']:,} silver rows, one changed row, median of {args.rounds}:")
    print("| rows read from | " + " | ".join(f"{p} s" for p in PARTS) + " |")
    print("|---|" + "---:|" * len(PARTS))
    for way in WAYS:
        print(f"| {way} | " + " | ".join(f"{medians[way][p]}" for p in PARTS) + " |")
    print(f"held / files: {ratios}; {args.out}")
    finish(spark, lake, args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
