"""Gold changes for a scored pack (v2): hits with scores, one alert per subject and period.

The scored twin of :mod:`aml.gold.changes`, with the same contract (:class:`GoldChanges`: keyed
upserts and deletes). A period alert summarises every hit of its subject in the period, across
rules, so a scoped run rebuilds each affected (subject, period) from its post-state hits: the
published hits outside the re-evaluated intervals plus the new hits inside them. Affected are the
periods a scoped interval overlaps for its subject, and the periods of every hit that appears or
disappears (a peer rule scopes every subject of a time span, so its changes name the subjects).
Hits of affected periods are upserted again even when unchanged: their ``alert_id`` follows the
period's score.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aml.gold import suppressions as gold_suppressions
from aml.gold.changes import DELETE, GoldChanges, _deletes, _flagged, in_intervals
from aml.gold.evaluation import HIT_COLUMNS, Lineage, ScopePolicy, evaluate
from aml.gold.row_index import RowIndex
from aml.gold.rulepack import RulePack
from aml.gold.scope import build_scope
from aml.gold.scoring import SCORED_HIT_COLUMNS, consolidate, period_start, with_scores

KEYS = ("subject_token", "period_start")
SCORED_HIT_SCHEMA_COLUMNS = (*HIT_COLUMNS, *SCORED_HIT_COLUMNS)


def prepare(
    hits_df: DataFrame, pack: RulePack, allow_list: gold_suppressions.AllowList
) -> DataFrame:
    """Raw identified hits -> scored, suppression-flagged hits with their period."""
    return allow_list.apply(with_scores(hits_df, pack))


def _published(hits_df: DataFrame, pack: RulePack) -> DataFrame:
    return hits_df.withColumn("period_start", period_start(F.col("event_ts"), pack.scoring))


def _finish(hits_df: DataFrame) -> DataFrame:
    return hits_df.select(*SCORED_HIT_SCHEMA_COLUMNS)


def full(
    spark: SparkSession,
    tx_df: DataFrame,
    pack: RulePack,
    lineage: Lineage,
    allow_list: gold_suppressions.AllowList,
) -> GoldChanges:
    """Every scored hit and period alert over the whole of silver."""
    hits_df = prepare(evaluate(spark, tx_df, pack, lineage), pack, allow_list).localCheckpoint()
    alerted_df, alerts_df = consolidate(hits_df, pack, lineage)
    alerted_df = _finish(alerted_df).localCheckpoint()
    return GoldChanges(_flagged(alerted_df, False), _flagged(alerts_df, False), alerted_df, True)


def _scope_periods(scope_df: DataFrame, pack: RulePack) -> DataFrame:
    """(subject, period) of every period a subject's scoped interval overlaps."""
    step = 7 if pack.scoring.period == "week" else 1
    first = period_start(F.timestamp_seconds("lo_s"), pack.scoring)
    last = period_start(F.timestamp_seconds("hi_s"), pack.scoring)
    return (
        scope_df.where(F.col("subject_token").isNotNull())
        .select(
            "subject_token",
            F.explode(F.sequence(first, last, F.expr(f"INTERVAL {step} DAYS"))).alias(
                "period_start"
            ),
        )
        .distinct()
    )


def scoped(
    spark: SparkSession,
    tx_df: DataFrame,
    changes_df: DataFrame,
    pack: RulePack,
    lineage: Lineage,
    published_hits_df: DataFrame,
    published_alerts_df: DataFrame,
    allow_list: gold_suppressions.AllowList,
    policy: ScopePolicy | None = None,
    index: RowIndex | None = None,
) -> GoldChanges:
    """Hit and alert changes caused by ``changes_df`` (silver change-feed rows, any type)."""
    # silver's row index (``index``, else read here): the scope's walks and the evaluation's
    # row sets use it
    index = RowIndex.of(tx_df) if index is None else index
    scope_df = build_scope(changes_df, tx_df, pack, index).localCheckpoint()
    new_hits_df = prepare(
        evaluate(spark, tx_df, pack, lineage, scope_df, policy, index), pack, allow_list
    ).localCheckpoint()
    published_df = _published(published_hits_df, pack)
    replaced_df = in_intervals(published_df, scope_df).localCheckpoint()
    keys_df = (
        _scope_periods(scope_df, pack)
        .unionByName(new_hits_df.select(*KEYS))
        .unionByName(replaced_df.select(*KEYS))
        .distinct()
    )
    kept_df = published_df.join(replaced_df.select("hit_id"), on="hit_id", how="left_anti")
    # materialised once: consolidation reads the post-state hits in several aggregates, and
    # the staged hits, the staged alerts and their deletes each read its two outputs again
    post_df = (
        kept_df.join(keys_df, on=list(KEYS), how="left_semi")
        .select(*new_hits_df.columns)
        .unionByName(new_hits_df)
        .localCheckpoint()
    )
    alerted_df, alerts_df = consolidate(post_df, pack, lineage)
    alerted_df = _finish(alerted_df).localCheckpoint()
    alerts_df = alerts_df.localCheckpoint()
    old_alerts_df = published_alerts_df.join(
        keys_df.withColumnRenamed("period_start", "alert_date"),
        on=["subject_token", "alert_date"],
        how="left_semi",
    )
    return GoldChanges(
        hits_df=_flagged(alerted_df, False).unionByName(
            _deletes(_finish(replaced_df), alerted_df, "hit_id")
        ),
        alerts_df=_flagged(alerts_df, False).unionByName(
            _deletes(old_alerts_df, alerts_df, "alert_id")
        ),
        post_hits_df=alerted_df,
        is_full=False,
    )


__all__ = ["DELETE", "full", "prepare", "scoped"]
