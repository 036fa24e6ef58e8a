"""Keeps ``gold.account_profiles`` and ``gold.segment_profiles`` (:mod:`aml.gold.profiles`) up to
date with silver, incrementally, as a step of the batch gold job.

The profiles follow silver on their own watermark (``ops.watermarks``: source ``silver``, table
``profiles``, value ``<silver version>|<parameters hash>``), not on the hits' one, so the streaming
job (which runs the hits and alerts per micro-batch and skips the profiles, which are weekly
numbers) leaves them for the next batch run to catch up.

A refresh reads silver's change feed since that version. A changed row at time ``s`` (any image)
can change the profile rows of its sender and receiver in the week containing ``s`` (whether the
account is active that week) and in every week whose trailing window holds ``s``, i.e. up to the
week containing ``s + H``. The scope is those accounts over the weeks from the earliest change's
week to the latest change's ``+ H`` week; :func:`aml.gold.profiles.publish_profiles` replaces
exactly the scope's rows and recomputes the segments of its weeks. The first run, a full refresh,
missing tables or changed parameters rebuild both tables from the whole of silver, and so does
every run while silver is below ``[gold] profiles_scoped_min_rows`` (:func:`scoped_min_rows`),
where the scoped refresh's fixed cost exceeds a rebuild's.

Order: publish, then move the watermark; a crash between them repeats the same refresh, whose
replacement of the scope's rows gives the same tables.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aml import delta_io, frames
from aml.config import Config, ConfigError
from aml.gold import profiles
from aml.gold.row_index import RowIndex
from aml.ops import JobRun, Watermark, commit_watermark, read_watermark

log = logging.getLogger(__name__)
PROGRESS = ("silver", "profiles")
TABLES = ("account_profiles", "segment_profiles")
# Below this many silver rows a rebuild of both tables costs less than the scoped refresh's
# fixed cost (its scope, held rows and two MERGEs): measured with bench/bench_gold_scope.py
# (docs/BENCHMARKS.md, "Where scoping pays"), one changed row, rebuild against scoped refresh:
# 8 s against 20 s at 20,000 rows, 22 s either way at 100,000, 97 s against 41 s at 1M.
SCOPED_MIN_ROWS = 100_000


def enabled(config: Config) -> bool:
    """``[gold] profiles`` (default true): whether the batch gold job maintains the profiles."""
    return bool(config.data.get("gold", {}).get("profiles", True))


def _whole_setting(config: Config, name: str, default: int) -> int:
    value = config.data.get("gold", {}).get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ConfigError(f"[gold] {name} must be a whole number >= 0, got {value!r}")
    return value


def scoped_min_rows(config: Config) -> int:
    """``[gold] profiles_scoped_min_rows`` (default :data:`SCOPED_MIN_ROWS`; 0: always scoped).

    Raises:
        ConfigError: not a whole number >= 0.
    """
    return _whole_setting(config, "profiles_scoped_min_rows", SCOPED_MIN_ROWS)


def replace_max_accounts(config: Config) -> int:
    """``[gold] profiles_replace_max_accounts`` (default
    :data:`aml.gold.profiles.REPLACE_MAX_ACCOUNTS`; 0: always the keyed MERGE): the widest scope,
    in accounts, whose account profiles a scoped refresh replaces by a literal predicate.

    Raises:
        ConfigError: not a whole number >= 0.
    """
    return _whole_setting(config, "profiles_replace_max_accounts", profiles.REPLACE_MAX_ACCOUNTS)


def _monday(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def scope_of(changes_df: DataFrame, params: profiles.ProfileParams) -> profiles.ProfileScope | None:
    """The accounts and weeks a set of silver change-feed rows can affect (None: no change with
    a time)."""
    timed_df = changes_df.where(F.col("event_ts").isNotNull())
    bounds = timed_df.agg(F.min("event_ts").alias("lo"), F.max("event_ts").alias("hi")).first()
    if bounds is None or bounds["lo"] is None:
        return None
    accounts_df = (
        timed_df.select(F.col("sender_account_token").alias("account_token"))
        .unionByName(timed_df.select(F.col("receiver_account_token").alias("account_token")))
        .where(F.col("account_token").isNotNull())
        .distinct()
        .localCheckpoint()
    )
    last = (bounds["hi"] + dt.timedelta(days=params.history_days)).date()
    return profiles.ProfileScope(accounts_df, _monday(bounds["lo"].date()), _monday(last))


def refresh(
    spark: SparkSession,
    config: Config,
    job_run: JobRun,
    rows: Callable[[], DataFrame],
    upto: int,
    full: bool,
    index: Callable[[], RowIndex] | None = None,
) -> dict[str, int]:
    """Brings the profiles to silver version ``upto``; returns the tables' new versions (empty
    when they were current).

    ``rows`` gives silver at that version, at least the columns the rules read, held in memory
    (the gold job's :class:`aml.gold.job.HeldSilver`): called only when there is work, so a run
    with nothing to refresh holds nothing. ``index`` gives the held rows' index
    (:class:`aml.gold.row_index.RowIndex`, shared with the hits' evaluation): a scoped refresh
    then finds its rows in the driver instead of by two semi-joins over silver."""
    params = profiles.load_params(config)
    silver_path = config.table_path("silver", "transactions")
    mark = read_watermark(spark, config, *PROGRESS)
    done, _, built_with = (mark.value if mark else "").partition("|")
    exists = all(delta_io.exists(spark, config.table_path("gold", t)) for t in TABLES)
    full = full or not done or built_with != params.hash or not exists
    if not full and int(done) >= upto:
        return {}
    if not full:
        floor = scoped_min_rows(config)
        silver_rows = rows().count() if floor else 0
        if silver_rows < floor:
            log.info("profiles: %d silver rows, below [gold] profiles_scoped_min_rows (%d): "
                     "rebuilt in full", silver_rows, floor)  # fmt: skip
            full = True
    # the profile SQL reads its rows several times: held (aml.frames), not re-scanned
    if full:
        versions = profiles.publish_profiles(
            spark, config, profiles.account_profiles(rows(), params)
        )
    else:
        scope = scope_of(delta_io.change_feed(spark, silver_path, int(done), upto), params)
        if scope is None:
            versions = {}
        else:
            located = None if index is None else index()
            with frames.held(profiles.scope_rows(rows(), scope, located)) as rows_df:
                profiles_df = profiles.account_profiles_for(
                    rows_df, params, scope.accounts_df, scope.first_week, scope.last_week
                )
                versions = profiles.publish_profiles(
                    spark, config, profiles_df, scope=scope,
                    replace_max_accounts=replace_max_accounts(config),
                )  # fmt: skip
    value = f"{upto}|{params.hash}"
    commit_watermark(spark, config, *PROGRESS, Watermark(value, None), job_run.run_id, upto)
    log.info("profiles: %s at silver version %d (%s)", versions, upto,
             "full" if full else f"changes after {done}")  # fmt: skip
    return versions
