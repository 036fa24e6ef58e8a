"""One changed silver row, the profiles' scoped refresh: its rows from held silver or from files,
or its publication by a literal predicate or by a keyed MERGE.

What the behavioural profiles' refresh (:func:`aml.gold.baselines.refresh`) costs after one
corrected silver row, split into its parts, done two ways in alternation in one Spark session.
``--compare rows`` (the default): the refresh's rows read from silver held in memory (the rules'
columns, as the gold job holds them for the hits and the profiles since
:class:`aml.gold.job.HeldSilver`: ``held``) or from silver's Delta files, every column (as the
refresh read them before: ``files``). ``--compare publish``: the scope's account profiles
replaced by a ``replaceWhere`` on its accounts listed as literals (``replace``, what the refresh
does since :data:`aml.gold.profiles.REPLACE_MAX_ACCOUNTS`) or by the keyed MERGE (``merge``, as
it did before, and still does for a wider scope), both from held rows, after the profiles were
rebuilt in full with this code (its file layout: contiguous account ranges; ``rebuild_s``).
``--compare index``: the scope's rows located in silver's row index held beside silver
(:meth:`aml.gold.job.HeldSilver.index`, built before the clock starts, as the hits' scope built
it in the job) and read by id (``indexed``, what the refresh does since 2026-12-08), or found
by two semi-joins of held silver with the scope's accounts (``joined``, as before); after the
same rebuild as ``publish``.
``--compare layout``: before each round, :data:`WIDE_SHARE` of silver corrected and refreshed,
uncounted (a daily increment's corrections: the keyed MERGE of thousands of accounts, which
appends their rows in files across every account), then the account profiles laid out again
(``laid_out``; :func:`aml.gold.profiles.keep_laid_out`, forced, its seconds in
``relayout_s``) or not (``appended``), and the one-row refresh counted; after the same
rebuild.
Each round corrects one silver row (a Delta UPDATE of its amount, so the change feed holds it)
and refreshes. After one uncounted warm-up round, the two ways alternate, ``--rounds`` times
each; the report is each way's median, per part:

- ``scope``: the accounts and weeks the change reaches (``baselines.scope_of``);
- ``rows``: the scope's silver rows located (``profiles.scope_rows``) and materialised
  (``aml.frames.materialise`` inside the refresh; for ``held`` the held silver itself is
  materialised before the clock starts, as the hits' evaluation did in the job);
- ``publish_accounts`` / ``publish_segments``: the two replacements (``replaceWhere`` or keyed
  MERGE), each with the rows it computes (the profiles of the scope, the segments of its
  weeks); before 2026-12-08 named ``merge_accounts`` / ``merge_segments`` (both were MERGEs);
- ``relayout``: a profile table laid out again after the refresh
  (:func:`aml.gold.profiles.keep_laid_out`: its file count checked, and, when scoped refreshes
  left too many files, the table rewritten in ranges);
- ``total``: the whole refresh, watermark read and commit included.

Usage (after ``bench/bench_pipeline.py --rows N --full-only`` built var/bench/pipeline-lake)::

    .venv/bin/python bench/bench_profile_refresh.py [--lake var/bench/pipeline-lake/lake] \
        [--rounds 2] [--compare rows|publish|layout|index]

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
from aml.gold import baselines, profiles
from aml.gold.job import HeldSilver
from aml.spark import build_session
from bench_gold_scope import (  # this folder's (sys.path[0])
    copy_lake,
    correct_one_row,
    correct_share,
    finish,
    lake_rounds_args,
)

COMPARED = {
    "rows": ("held", "files"),
    "publish": ("replace", "merge"),
    "layout": ("laid_out", "appended"),
    "index": ("indexed", "joined"),
}
# --compare layout: the share of silver corrected before each round (a daily increment's 0.5 %)
WIDE_SHARE = 0.005
NEVER, ALWAYS = 10**9, -(10**9)  # profiles.SPARE_FILES that stop or force keep_laid_out
PARTS = ("scope", "rows", "publish_accounts", "publish_segments", "relayout", "total")


class _Clock:
    """Seconds per part of one refresh, by wrapping the functions the refresh calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.counting = False
        self._wrap(baselines, "scope_of", lambda *a: "scope")
        self._wrap(frames, "materialise", lambda *a: "rows")
        # locating the rows (the index's lookups, in the driver) before they are materialised
        self._wrap(profiles, "scope_rows", lambda *a: "rows")
        self._wrap(profiles, "keep_laid_out", lambda *a: "relayout")
        for replacement in ("_replace", "_replace_where"):
            self._wrap(
                profiles,
                replacement,
                lambda spark, path, *a: (
                    "publish_segments" if "segment" in path else "publish_accounts"
                ),
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


def _silver(spark, silver_path: str):
    return spark.read.format("delta").load(silver_path)


def _wide_change(spark, config, silver_path: str, round_no: int, lay_out: bool) -> float | None:
    """``--compare layout``, before a counted round: corrects :data:`WIDE_SHARE` of silver's
    rows and refreshes, uncounted (a scope of thousands of accounts: the keyed MERGE, which
    appends their rows as files across every account); then, with ``lay_out``, lays the
    account profiles out again. Returns that relayout's seconds (None without)."""
    correct_share(spark, silver_path, 1000 + round_no, WIDE_SHARE)
    upto = delta_io.current_version(spark, silver_path)
    baselines.refresh(spark, config, _Run(), lambda: _silver(spark, silver_path), upto, False)
    if not lay_out:
        return None
    profiles.SPARE_FILES = ALWAYS
    try:
        started = time.perf_counter()
        path = config.table_path("gold", "account_profiles")
        profiles.keep_laid_out(spark, path, profiles.ACCOUNT_RANGES)
        return round(time.perf_counter() - started, 2)
    finally:
        profiles.SPARE_FILES = NEVER


class _Run:
    """What :func:`aml.gold.baselines.refresh` reads of the job's run: its id."""

    def __init__(self) -> None:
        self.run_id = uuid.uuid4().hex


def main(argv: list[str] | None = None) -> int:
    args = lake_rounds_args(__doc__, "profile-refresh.json", argv, compare=tuple(COMPARED))
    ways = COMPARED[args.compare]
    lake = copy_lake(args.lake, "profile-refresh-lake", "gold/account_profiles")
    if lake is None:
        return 2
    # always scoped, whatever the lake's size
    config = load_config("local").with_lake(lake).with_settings("gold", profiles_scoped_min_rows=0)
    spark = build_session(config, "aml-bench-profile-refresh")
    silver_path = config.table_path("silver", "transactions")
    rebuild_s = None
    if args.compare == "layout":  # laid out again only where the bench says
        profiles.SPARE_FILES = NEVER
    relayouts: list[float] = []
    if args.compare != "rows":  # the profiles as a full run of this code lays them out
        started = time.perf_counter()
        upto = delta_io.current_version(spark, silver_path)
        baselines.refresh(spark, config, _Run(), lambda: _silver(spark, silver_path), upto, True)
        rebuild_s = round(time.perf_counter() - started, 2)
        print(f"  profiles rebuilt in full: {rebuild_s} s", flush=True)
    clock = _Clock()
    runs: dict[str, list[dict]] = {way: [] for way in ways}
    for round_no in range(args.rounds * len(ways) + 1):
        way = ways[round_no % len(ways)]
        if args.compare == "layout":
            seconds = _wide_change(spark, config, silver_path, round_no, way == "laid_out")
            if seconds is not None and round_no:
                relayouts.append(seconds)
        correct_one_row(spark, silver_path, round_no)
        upto = delta_io.current_version(spark, silver_path)
        held = HeldSilver(spark, silver_path)
        files_df = spark.read.format("delta").option("versionAsOf", upto).load(silver_path)
        if way != "files":
            held.at(upto)  # held by the hits' evaluation before the refresh, in the job
        index = None
        if way == "indexed":  # built by the hits' scope before the refresh, in the job
            held.index(upto)

            def index(held=held, upto=upto):
                return held.index(upto)

        def rows(way=way, held=held, files_df=files_df, upto=upto):
            return files_df if way == "files" else held.at(upto)

        merged = 0 if way == "merge" else profiles.REPLACE_MAX_ACCOUNTS
        way_config = config.with_settings("gold", profiles_replace_max_accounts=merged)
        clock.seconds, clock.counting = {}, True
        started = time.perf_counter()
        try:
            baselines.refresh(spark, way_config, _Run(), rows, upto, False, index=index)
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
        for way in ways
    }
    first, second = ways
    ratios = {
        part: round(medians[first][part] / medians[second][part], 3)
        for part in PARTS
        if medians[second][part]
    }
    result = {
        "command": " ".join(["bench/bench_profile_refresh.py", *(argv or sys.argv[1:])]),
        "silver_rows": spark.read.format("delta").load(silver_path).count(),
        "rounds": args.rounds,
        "compare": args.compare,
        "rebuild_s": rebuild_s,
        "relayout_s": relayouts or None,
        "runs": runs,
        "medians": medians,
        f"{first}_over_{second}": ratios,
    }
    print(f"\n{result['silver_rows']:,} silver rows, one changed row, median of {args.rounds}:")
    print(f"| {args.compare} | " + " | ".join(f"{p} s" for p in PARTS) + " |")
    print("|---|" + "---:|" * len(PARTS))
    for way in ways:
        print(f"| {way} | " + " | ".join(f"{medians[way][p]}" for p in PARTS) + " |")
    print(f"{first} / {second}: {ratios}; {args.out}")
    finish(spark, lake, args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
