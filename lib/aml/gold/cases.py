"""Case work on alerts: status changes kept with their history in ``gold.alert_cases``.

The table is an append-only log, one row per change (``alert_id, seq, from_status, status,
reason, changed_by, changed_at``): the audit trail of who moved a case when and why is never
rewritten, and a rebuild of ``gold.alerts`` (which always says ``NEW``) cannot lose it. An
alert's current status is its newest row, or ``NEW`` when it has none.

Transitions are checked against the current status before the row is appended. Two people
changing the same case at the same instant could both pass the check (a blind append does not
conflict in Delta); the history then shows both rows with the same ``seq``, which a reviewer can
see, and the later ``changed_at`` wins.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aml import delta_io
from aml.config import Config
from aml.ops import append_rows, utcnow

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TABLE = ("gold", "alert_cases")
SCHEMA = (
    "alert_id STRING NOT NULL, seq INT NOT NULL, from_status STRING NOT NULL, "
    "status STRING NOT NULL, reason STRING, changed_by STRING NOT NULL, "
    "changed_at TIMESTAMP NOT NULL"
)
NEW, IN_REVIEW, ESCALATED, CLOSED = "NEW", "IN_REVIEW", "ESCALATED", "CLOSED"
STATUSES = (NEW, IN_REVIEW, ESCALATED, CLOSED)
TRANSITIONS = {
    NEW: (IN_REVIEW, CLOSED),
    IN_REVIEW: (ESCALATED, CLOSED),
    ESCALATED: (IN_REVIEW, CLOSED),
    CLOSED: (IN_REVIEW,),  # reopened, with a reason
}


class CaseError(ValueError):
    """A status change was refused; nothing was written."""


class UnknownAlert(CaseError):
    """No alert has this id in gold.alerts."""


class InvalidTransition(CaseError):
    """The change is not allowed from the alert's current status, or lacks its reason."""


def needs_reason(current: str, new: str) -> bool:
    """Closing a case, or reopening a closed one, must say why."""
    return new == CLOSED or current == CLOSED


def check_transition(current: str, new: str, reason: str | None) -> None:
    """Raises :class:`InvalidTransition` unless ``current -> new`` is allowed with ``reason``."""
    if new not in STATUSES:
        raise InvalidTransition(f"unknown status {new!r}; statuses are {STATUSES}")
    allowed = TRANSITIONS[current]
    if new not in allowed:
        raise InvalidTransition(
            f"cannot move a {current} case to {new}; from {current} it may go to {allowed}"
        )
    if needs_reason(current, new) and not (reason and reason.strip()):
        raise InvalidTransition(f"moving a {current} case to {new} requires a reason")


def _path(config: Config) -> str:
    return config.table_path(*TABLE)


def history(spark: SparkSession, config: Config, alert_id: str | None = None) -> DataFrame:
    """Every status change (of one alert, or of all), oldest first."""
    from pyspark.sql import functions as F

    path = _path(config)
    if delta_io.exists(spark, path):
        df = spark.read.format("delta").load(path)
    else:
        df = spark.createDataFrame([], SCHEMA)
    if alert_id is not None:
        df = df.where(F.col("alert_id") == alert_id)
    return df.orderBy("alert_id", "seq", "changed_at")


def current(history_df: DataFrame) -> DataFrame:
    """The newest change per alert: ``alert_id, status, seq, reason, changed_by, changed_at``."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    newest = Window.partitionBy("alert_id").orderBy(F.col("seq").desc(), F.col("changed_at").desc())
    return (
        history_df.withColumn("_n", F.row_number().over(newest))
        .where("_n = 1")
        .select("alert_id", "status", "seq", "reason", "changed_by", "changed_at")
    )


def with_case_status(alerts_df: DataFrame, history_df: DataFrame) -> DataFrame:
    """Alerts with ``case_status`` (their newest change, else NEW) and ``status_changed_at``."""
    from pyspark.sql import functions as F

    current_df = current(history_df).select(
        "alert_id",
        F.col("status").alias("case_status"),
        F.col("changed_at").alias("status_changed_at"),
    )
    return alerts_df.join(current_df, on="alert_id", how="left").withColumn(
        "case_status", F.coalesce(F.col("case_status"), F.lit(NEW))
    )


def status_of(spark: SparkSession, config: Config, alert_id: str) -> tuple[str, int]:
    """(current status, number of changes so far) of an alert known to gold.alerts."""
    from pyspark.sql import functions as F

    alerts_path = config.table_path("gold", "alerts")
    if not delta_io.exists(spark, alerts_path):
        raise UnknownAlert("gold.alerts does not exist yet: run `aml build gold`")
    alerts_df = spark.read.format("delta").load(alerts_path)
    if alerts_df.where(F.col("alert_id") == alert_id).limit(1).count() == 0:
        raise UnknownAlert(f"no alert {alert_id!r} in gold.alerts")
    row = current(history(spark, config, alert_id)).first()
    return (row.status, int(row.seq)) if row else (NEW, 0)


def set_status(
    spark: SparkSession,
    config: Config,
    alert_id: str,
    status: str,
    reason: str | None = None,
    user: str | None = None,
) -> dict[str, Any]:
    """Moves an alert's case to ``status`` and returns the appended row.

    Args:
        reason: required to close a case or reopen a closed one; kept with the change.
        user: who makes the change; default ``$AML_USER`` or the OS login (the same identity
            the decrypt audit records).

    Raises:
        UnknownAlert: the id is not in gold.alerts.
        InvalidTransition: the change is not allowed from the current status.
    """
    from aml.crypto.access import current_user

    status = status.strip().upper()
    now, seq = status_of(spark, config, alert_id)
    check_transition(now, status, reason)
    row = {
        "alert_id": alert_id,
        "seq": seq + 1,
        "from_status": now,
        "status": status,
        "reason": reason.strip() if reason and reason.strip() else None,
        "changed_by": user or current_user(),
        "changed_at": utcnow(),
    }
    append_rows(spark, _path(config), SCHEMA, [row])
    return row
