"""What gold must change after silver moved: hit and alert upserts and deletes, by key.

Shared by the batch job and the streaming job. :func:`full` recomputes everything; :func:`scoped`
recomputes, per rule, only the subjects and intervals a set of silver changes can affect
(:mod:`aml.gold.scope`) and states the result as keyed upserts plus deletes (``_delete``), so
publishing is one MERGE per table and replaying it changes nothing.

An alert summarises all hits of its (rule, subject, day). A scoped run therefore rebuilds every
alert whose day overlaps a scoped interval from the *post-state* hits of that day: the published
hits outside the interval plus the new hits inside it.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aml.gold.alerts import build_alerts
from aml.gold.evaluation import Lineage, ScopePolicy, evaluate
from aml.gold.row_index import RowIndex
from aml.gold.rulepack import RulePack
from aml.gold.scope import build_scope

DELETE = "_delete"


@dataclass(frozen=True)
class GoldChanges:
    """Keyed changes to publish, and the post-state hits the alerts were built from.

    Attributes:
        hits_df: hit rows with ``_delete`` (False: upsert by ``hit_id``; True: delete it).
        alerts_df: alert rows with ``_delete`` (by ``alert_id``).
        post_hits_df: every hit of the rebuilt alerts, as they will be once published.
        is_full: the changes replace the tables rather than merge into them.
    """

    hits_df: DataFrame
    alerts_df: DataFrame
    post_hits_df: DataFrame
    is_full: bool


def _flagged(df: DataFrame, is_delete: bool) -> DataFrame:
    return df.withColumn(DELETE, F.lit(is_delete))


def _deletes(existing_df: DataFrame, keep_df: DataFrame, key: str) -> DataFrame:
    """Rows of ``existing_df`` whose key is not in ``keep_df``, marked for deletion."""
    return _flagged(existing_df.join(keep_df.select(key), on=key, how="left_anti"), True)


# Columns a rebuilt row may differ in without being a change: the lineage of the run that wrote it
# and an alert's status (case handling owns it, the publish never overwrites it).
NOT_COMPARED = (*(f.name for f in fields(Lineage)), "status")


def _changed(new_df: DataFrame, published_df: DataFrame, key: str) -> DataFrame:
    """Rows of ``new_df`` that ``published_df`` lacks or holds with other values (lineage and
    status aside), by ``key``."""
    compared = [c for c in new_df.columns if c not in NOT_COMPARED and c != DELETE]

    def digest(df: DataFrame) -> DataFrame:
        return df.select(key, F.sha2(F.to_json(F.struct(*compared)), 256).alias("_digest"))

    same_df = digest(new_df).join(digest(published_df), on=[key, "_digest"], how="inner")
    return new_df.join(same_df.select(key), on=key, how="left_anti")


def as_merge(
    changes: GoldChanges, published_hits_df: DataFrame, published_alerts_df: DataFrame
) -> GoldChanges:
    """A full evaluation's result stated as the keyed changes to what is published: the rows
    that are new or differ, and deletes of the published rows it no longer has.

    Published by MERGE, like a scoped run's changes: alert status is kept, unchanged rows keep
    the lineage of the run that last changed them, and only real changes are staged, validated
    and (from the streaming job) sent. ``post_hits_df`` is cut to the hits of the staged alerts:
    the evidence the reconciliation checks them against."""
    hits_df = changes.hits_df.drop(DELETE)
    alerts_df = changes.alerts_df.drop(DELETE)
    changed_alerts_df = _changed(alerts_df, published_alerts_df, "alert_id").localCheckpoint()
    post_hits_df = changes.post_hits_df.join(
        changed_alerts_df.select("alert_id"), on="alert_id", how="left_semi"
    )
    return GoldChanges(
        hits_df=_flagged(_changed(hits_df, published_hits_df, "hit_id"), False).unionByName(
            _deletes(published_hits_df.select(*hits_df.columns), hits_df, "hit_id")
        ),
        alerts_df=_flagged(changed_alerts_df, False).unionByName(
            _deletes(published_alerts_df.select(*alerts_df.columns), alerts_df, "alert_id")
        ),
        post_hits_df=post_hits_df,
        is_full=False,
    )


def full(spark: SparkSession, tx_df: DataFrame, pack: RulePack, lineage: Lineage) -> GoldChanges:
    """Every hit and alert over the whole of silver."""
    hits_df = evaluate(spark, tx_df, pack, lineage).localCheckpoint()
    alerts_df = build_alerts(hits_df, pack, lineage)
    return GoldChanges(_flagged(hits_df, False), _flagged(alerts_df, False), hits_df, True)


def in_intervals(hits_df: DataFrame, scope_df: DataFrame) -> DataFrame:
    """Hits whose (rule, subject) is scoped and whose time lies inside the scoped interval."""
    inside = (
        (hits_df["rule_id"] == scope_df["rule_id"])
        & (
            scope_df["subject_token"].isNull()
            | (hits_df["subject_token"] == scope_df["subject_token"])
        )
        & (F.unix_seconds(hits_df["event_ts"]) >= scope_df["lo_s"])
        & (F.unix_seconds(hits_df["event_ts"]) <= scope_df["hi_s"])
    )
    return hits_df.join(F.broadcast(scope_df), on=inside, how="left_semi")


def affected_alert_days(scope_df: DataFrame) -> DataFrame:
    """``rule_id, subject_token, event_date`` of every alert a scoped interval overlaps."""
    return scope_df.select(
        "rule_id",
        "subject_token",
        F.explode(
            F.sequence(
                F.to_date(F.timestamp_seconds("lo_s")), F.to_date(F.timestamp_seconds("hi_s"))
            )
        ).alias("event_date"),
    ).distinct()


def scoped(
    spark: SparkSession,
    tx_df: DataFrame,
    changes_df: DataFrame,
    pack: RulePack,
    lineage: Lineage,
    published_hits_df: DataFrame,
    published_alerts_df: DataFrame,
    policy: ScopePolicy | None = None,
    index: RowIndex | None = None,
) -> GoldChanges:
    """Hit and alert changes caused by ``changes_df`` (silver change-feed rows, any type).

    Args:
        tx_df: silver now. changes_df: the silver rows (old and new images) that changed.
        published_hits_df / published_alerts_df: gold as published before this change.
        policy: which rules read all of silver rather than their scoped rows (same hits).
        index: ``tx_df``'s row index (:class:`aml.gold.row_index.RowIndex`), read here if None.
    """
    # silver's row index (``index``, else read here): the scope's walks and the evaluation's
    # row sets use it
    index = RowIndex.of(tx_df) if index is None else index
    scope_df = build_scope(changes_df, tx_df, pack, index).localCheckpoint()
    new_hits_df = evaluate(spark, tx_df, pack, lineage, scope_df, policy, index).localCheckpoint()
    replaced_df = in_intervals(published_hits_df, scope_df).localCheckpoint()
    days_df = affected_alert_days(scope_df)
    kept_df = published_hits_df.join(replaced_df.select("hit_id"), on="hit_id", how="left_anti")
    # materialised once: the alerts, the reconciliation and the alerts' deletes read them
    post_hits_df = (
        kept_df.join(days_df, on=["rule_id", "subject_token", "event_date"], how="left_semi")
        .unionByName(new_hits_df)
        .localCheckpoint()
    )
    alerts_df = build_alerts(post_hits_df, pack, lineage).localCheckpoint()
    old_alerts_df = published_alerts_df.join(
        days_df.withColumnRenamed("event_date", "alert_date"),
        on=["rule_id", "subject_token", "alert_date"],
        how="left_semi",
    )
    return GoldChanges(
        hits_df=_flagged(new_hits_df, False).unionByName(
            _deletes(replaced_df, new_hits_df, "hit_id")
        ),
        alerts_df=_flagged(alerts_df, False).unionByName(
            _deletes(old_alerts_df, alerts_df, "alert_id")
        ),
        post_hits_df=post_hits_df,
        is_full=False,
    )
