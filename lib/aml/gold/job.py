"""``aml build gold`` / ``jobs/build_gold.py``: silver into rule hits and alerts, behind a gate.

Incremental by silver's change feed: gold records (in ``ops.watermarks``, source ``silver``) the
silver version it has consumed; a run reads the changes after it, re-evaluates only the subjects
they touch (:mod:`aml.gold.scope`), stages the keyed changes, validates silver and the staged
gold with Great Expectations, and publishes only when every suite passes. The first run, a run
with ``--full-refresh``, or a run that finds gold missing evaluates every subject.

Order: stage, validate, publish hits, publish alerts, then move the consumed version. A crash
anywhere before the last step leaves the version unmoved; the rerun recomputes the same changes
and its merges are idempotent, so the tables end the same.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aml import delta_io, failpoints, frames
from aml.config import Config, ConfigError, load_config
from aml.gold import baselines, rulepack, scored_changes
from aml.gold import changes as gold_changes
from aml.gold import publish as gold_publish
from aml.gold import suppressions as gold_suppressions
from aml.gold.evaluation import RULE_INPUT_COLUMNS, Lineage, ScopePolicy
from aml.gold.row_index import RowIndex
from aml.ops import (
    JobRun,
    Watermark,
    commit_watermark,
    read_watermark,
    recorded_run,
    utcnow,
    watermark_book,
)

log = logging.getLogger(__name__)
JOB = "build_gold"
PROGRESS = ("silver", "gold")
BUILT_WITH = ("rule_pack", "gold")


@dataclass
class HeldSilver:
    """``silver.transactions`` at one version, only the columns the rules read, held in memory
    from its first use until :meth:`close`: what the hits' evaluation and the profiles' refresh
    of one run both read (:mod:`aml.frames`: one scan of the Delta files, not one per step or
    per reference in a rule's SQL; not the encrypted personal fields, over half of silver's
    bytes)."""

    spark: SparkSession
    path: str
    # the version held and its rows, both None while nothing is held: set by at() alone
    version: int | None = field(default=None, init=False)
    _df: DataFrame | None = field(default=None, init=False, repr=False)
    # the held rows' index (aml.gold.row_index), built on first use
    _index: RowIndex | None = field(default=None, init=False, repr=False)

    def at(self, version: int) -> DataFrame:
        """The rows at ``version``, materialised now if not held yet (or held at another)."""
        if self._df is None or self.version != version:
            self.close()
            read_df = self.spark.read.format("delta").option("versionAsOf", version).load(self.path)
            self._df = frames.materialise(read_df.select(*RULE_INPUT_COLUMNS))
            self.version = version
        return self._df

    def index(self, version: int) -> RowIndex:
        """The index of the rows at ``version`` (:class:`aml.gold.row_index.RowIndex`), which
        the scope's walks, the scoped evaluation and the profiles' scope rows all read: built
        once per held version."""
        rows_df = self.at(version)
        if self._index is None:
            self._index = RowIndex.of(rows_df)
        return self._index

    def close(self) -> None:
        """Frees the held rows (if any)."""
        if self._df is not None:
            frames.release(self._df)
            self._df = None
            self.version = None
        self._index = None


def _consumed(spark: SparkSession, config: Config) -> int | None:
    mark = read_watermark(spark, config, *PROGRESS)
    return int(mark.value) if mark else None


def _full_changes(
    spark: SparkSession,
    tx_df: DataFrame,
    pack: rulepack.RulePack,
    lineage: Lineage,
    allow_list: gold_suppressions.AllowList | None,
) -> gold_changes.GoldChanges:
    if pack.is_scored:
        return scored_changes.full(spark, tx_df, pack, lineage, allow_list)
    return gold_changes.full(spark, tx_df, pack, lineage)


def reconciliation(
    tx_df: DataFrame, hits_df: DataFrame, alerts_df: DataFrame, post_hits_df: DataFrame
) -> DataFrame:
    """One row of counts that must all be zero: gold agrees with silver and with itself.

    ``hits_df`` and ``alerts_df`` are the staged upserts (cached by the caller: the counts and
    then the suites read them)."""
    per_alert_df = post_hits_df.groupBy("alert_id").agg(F.count("*").alias("n_hits"))
    orphans = hits_df.join(tx_df.select("transaction_id"), on="transaction_id", how="left_anti")
    mismatched = alerts_df.join(per_alert_df, on="alert_id", how="left").where(
        F.col("n_hits").isNull() | (F.col("n_hits") != F.col("hit_count"))
    )
    # a scored pack's hit below its period's threshold (or suppressed) has no alert by design
    unalerted = post_hits_df.where(F.col("alert_id").isNotNull()).join(
        alerts_df.select("alert_id"), on="alert_id", how="left_anti"
    )
    started = time.monotonic()
    counts = [df.count() for df in (orphans, mismatched, unalerted)]
    log.info("gold: reconciliation counts in %.1fs", time.monotonic() - started)
    return tx_df.sparkSession.createDataFrame(
        [tuple(counts)], "orphan_hits BIGINT, alert_hit_mismatch BIGINT, hits_without_alert BIGINT"
    )


HIT_SUITES = {False: "gold_suspicious_transactions", True: "gold_scored_hits"}
ALERT_SUITES = {False: "gold_alerts", True: "gold_scored_alerts"}


def staged_batches(staged: gold_publish.Staged, is_scored: bool = False) -> dict[str, DataFrame]:
    """The staged upserts as the gold suites judge them (the alerts with their evidence size);
    a scored pack's tables have suites of their own (nullable alert ids, scores)."""
    return {
        HIT_SUITES[is_scored]: staged.upserts("suspicious_transactions"),
        ALERT_SUITES[is_scored]: staged.upserts("alerts").withColumn(
            "evidence_size", F.size("transaction_ids")
        ),
    }


def validation_batches(
    silver_df: DataFrame,
    tx_df: DataFrame,
    gold_batches: dict[str, DataFrame],
    post_hits_df: DataFrame,
) -> dict[str, DataFrame]:
    """Suite name -> the DataFrame it validates (``gold_batches``: :func:`staged_batches`)."""
    hits_df, alerts_df = (
        next(df for name, df in gold_batches.items() if name in HIT_SUITES.values()),
        next(df for name, df in gold_batches.items() if name in ALERT_SUITES.values()),
    )
    return {
        "silver_transactions": silver_df,
        **gold_batches,
        "gold_reconciliation": reconciliation(tx_df, hits_df, alerts_df, post_hits_df),
    }


def advance(
    spark: SparkSession,
    config: Config,
    job_run: JobRun,
    full_refresh: bool = False,
    on_published: Callable[[gold_publish.Staged], None] | None = None,
    update_docs: bool | None = None,
    held: HeldSilver | None = None,
) -> bool:
    """Brings gold up to the newest silver version; returns whether anything was evaluated.

    The whole gold step, shared by the batch job (one call per run) and the streaming job (one
    call per micro-batch, after its silver commit). ``on_published`` runs after the publish and
    before the consumed version moves (the streaming job sends the changed alerts to Kafka
    there), so a crash in it or before it repeats the step, never skips it. ``update_docs``
    is the gate's Data Docs policy (:func:`aml.gold.validate.validate`; default ``[gold]
    data_docs``: only after a failure). ``held``: silver as the caller holds it for later
    steps (the batch job's profiles), left held; None: held for this call only.
    """
    from aml.gold.validate import docs_always, gate

    if update_docs is None:
        update_docs = docs_always(config)

    pack = rulepack.load(config)
    allow_list = gold_suppressions.load(config) if pack.is_scored else None
    built_with = rulepack.fingerprint(pack, allow_list.fingerprint() if allow_list else "")
    mark = read_watermark(spark, config, *BUILT_WITH)
    if mark is not None and mark.value != built_with and not full_refresh:
        log.info("gold: rule pack or allow-list changed since the last build: full rebuild")
        full_refresh = True
    silver_path = config.table_path("silver", "transactions")
    if not delta_io.exists(spark, silver_path):
        raise ConfigError("silver.transactions does not exist yet: run `aml build silver`")
    upto = delta_io.current_version(spark, silver_path)
    hits_before = gold_publish.published(spark, config, "suspicious_transactions")
    alerts_before = gold_publish.published(spark, config, "alerts")
    after = None if full_refresh else _consumed(spark, config)
    is_full = after is None or hits_before is None or alerts_before is None or mark is None
    if not is_full and after >= upto:
        log.info("gold: silver unchanged since version %d", upto)
        return False
    silver_at_df = spark.read.format("delta").option("versionAsOf", upto).load(silver_path)
    own = held is None
    held = HeldSilver(spark, silver_path) if own else held
    tx_df = held.at(upto)
    try:
        lineage = Lineage(upto, job_run.run_id, utcnow().replace(microsecond=0))
        with job_run.phase("evaluate"):
            if is_full:
                changes = _full_changes(spark, tx_df, pack, lineage, allow_list)
                silver_df = silver_at_df
            else:
                feed_df = delta_io.change_feed(spark, silver_path, after, upto).localCheckpoint()
                policy = ScopePolicy.from_settings(config.data.get("gold", {}))
                changed = feed_df.select("transaction_id").distinct().count()
                if policy.evaluate_all(changed, tx_df.count()):
                    log.info("gold: %d changed silver rows, past [gold] full_evaluation_share "
                             "(%s): every subject evaluated, the difference published",
                             changed, policy.full_evaluation_share)  # fmt: skip
                    changes = gold_changes.as_merge(
                        _full_changes(spark, tx_df, pack, lineage, allow_list),
                        hits_before,
                        alerts_before,
                    )
                elif pack.is_scored:
                    changes = scored_changes.scoped(
                        spark, tx_df, feed_df, pack, lineage, hits_before, alerts_before,
                        allow_list, policy, held.index(upto),
                    )  # fmt: skip
                else:
                    changes = gold_changes.scoped(
                        spark, tx_df, feed_df, pack, lineage, hits_before, alerts_before, policy,
                        held.index(upto),
                    )  # fmt: skip
                # what the silver suite judges: the changed rows as silver holds them now, every
                # column (the feed can hold several images of one id: a silver merge repeated
                # after a crash writes the same rows again in a later version)
                silver_df = delta_io.newest_images(feed_df, "transaction_id").localCheckpoint()
            staged = gold_publish.stage(spark, config, changes)
        job_run.rows_read += silver_df.count()
        with job_run.phase("validate"):
            # the reconciliation counts and each suite read the staged tables: read them once
            # (silver is cached already)
            gold_batches = {
                k: df.persist() for k, df in staged_batches(staged, pack.is_scored).items()
            }
            try:
                batches = validation_batches(silver_df, tx_df, gold_batches, changes.post_hits_df)
                gate(spark, config, job_run.run_id, JOB, batches, update_docs)
            finally:
                for df in gold_batches.values():
                    df.unpersist()
        failpoints.hit("before_gold_publish")
        with job_run.phase("publish"):
            versions = gold_publish.publish(spark, config, staged)
        job_run.rows_written += staged.hits_df.count() + staged.alerts_df.count()
        job_run.table_versions.update(versions)
        failpoints.hit("after_gold_publish")
        if allow_list is not None:
            gold_suppressions.audit(
                spark, config, job_run.run_id, allow_list, staged.upserts("suspicious_transactions")
            )
        if on_published is not None:
            on_published(staged)
        if mark is None or mark.value != built_with:
            commit_watermark(
                spark, config, *BUILT_WITH, Watermark(built_with, None), job_run.run_id, upto
            )
        commit_watermark(spark, config, *PROGRESS, Watermark(str(upto), None), job_run.run_id, upto)
        job_run.table_versions["silver.transactions"] = upto
    finally:
        if own:
            held.close()
    log.info("gold: %s from silver version %d (%s)", versions, upto,
             "full" if is_full else f"changes after {after}")  # fmt: skip
    return True


def run(spark: SparkSession, config: Config, full_refresh: bool = False) -> JobRun:
    """Builds gold.suspicious_transactions and gold.alerts from silver.transactions, then
    refreshes the behavioural profiles (:mod:`aml.gold.baselines`, ``[gold] profiles``)."""
    args = {"full_refresh": full_refresh, "env": config.name}
    # gold's progress, the pack it was built with and the profiles' progress: one read of
    # ops.watermarks and one commit of their moves, before the run is recorded as done (a run
    # killed before that commit is rerun from the unmoved marks: the merges are idempotent)
    silver_path = config.table_path("silver", "transactions")
    # the hits and the profiles read one held copy of silver (when either has work)
    held = HeldSilver(spark, silver_path)
    with recorded_run(spark, config, JOB, args) as job_run, watermark_book(spark, config):
        try:
            advance(spark, config, job_run, full_refresh, held=held)
            if baselines.enabled(config):
                with job_run.phase("profiles"):
                    upto = delta_io.current_version(spark, silver_path)
                    job_run.table_versions.update(
                        baselines.refresh(
                            spark,
                            config,
                            job_run,
                            lambda: held.at(upto),
                            upto,
                            full_refresh,
                            index=lambda: held.index(upto),
                        )
                    )
        finally:
            held.close()
    return job_run


def execute(args: argparse.Namespace) -> int:
    from aml.gold.validate import ValidationFailed
    from aml.spark import build_session

    config = load_config(args.env)
    spark = build_session(config, f"aml-{JOB}")
    started = time.monotonic()
    try:
        result = run(spark, config, args.full_refresh)
    except ConfigError as exc:
        log.error("%s", exc)
        return 2
    except ValidationFailed as exc:
        log.error("gold not published: %s", exc)
        return 4
    print(
        f"gold {result.run_id}: {result.rows_read} silver rows checked, {result.rows_written} "
        f"hit/alert changes published in {time.monotonic() - started:.1f}s; "
        f"versions {result.table_versions}"
    )
    return 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--full-refresh",
        action="store_true",
        help="re-evaluate every subject over the whole of silver",
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``jobs/build_gold.py`` (spark-submit)."""
    from aml.cli import job_main

    return job_main("build_gold", __doc__.splitlines()[0], add_arguments, execute, argv)


if __name__ == "__main__":
    sys.exit(main())
