"""Alert triage: the queue, an alert's evidence, and the subject's details for investigators.

Everything here shows tokens; the one exception is :func:`subject_details`, which goes through
:func:`aml.crypto.access.decrypt` and so is refused (and audited) for anyone whose role may not
decrypt, and audited before any value is decrypted for an investigator. The subject is named by
its account token; the customer behind it (name, date of birth) is found through
``silver.accounts`` by ids only, and an account held at another bank (no customer row) is
decrypted from one of the alert's own transactions instead.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aml.config import Config
from aml.gold import cases
from aml.notebooks.views import read_table

if TYPE_CHECKING:
    import pandas as pd
    from pyspark.sql import DataFrame, SparkSession

SEVERITY_ORDER = "array_position(array('LOW', 'MEDIUM', 'HIGH', 'CRITICAL'), effective_severity)"
QUEUE_COLUMNS = (
    "alert_id", "effective_severity", "base_severity", "escalation_reason", "case_status",
    "rule_id", "rule_name", "alert_date", "subject_role", "subject_token", "hit_count",
    "total_amount",
)  # fmt: skip


def _ordered(queue_df: DataFrame) -> DataFrame:
    from pyspark.sql import functions as F

    return queue_df.orderBy(
        F.expr(SEVERITY_ORDER).desc(),
        F.col("alert_date").desc(),
        F.col("total_amount").desc(),
        F.col("alert_id"),
    )


def queue(spark: SparkSession, config: Config, include_closed: bool = False) -> DataFrame:
    """Open alerts, most severe (effective severity) first, then newest, then largest."""
    from pyspark.sql import functions as F

    alerts_df = spark.table("gold_alerts")
    queue_df = cases.with_case_status(alerts_df, cases.history(spark, config))
    if not include_closed:
        queue_df = queue_df.where(F.col("case_status") != cases.CLOSED)
    return _ordered(queue_df.select(*QUEUE_COLUMNS))


def pick_alert(spark: SparkSession, config: Config, alert_id: str = "") -> str:
    """``alert_id`` when given, else the top of the queue, preferring a subject who is one of
    the bank's customers (their details are what an investigator opens the case for)."""
    from pyspark.sql import functions as F

    if alert_id:
        if spark.table("gold_alerts").where(F.col("alert_id") == alert_id).limit(1).count() == 0:
            raise cases.UnknownAlert(f"no alert {alert_id!r} in gold.alerts")
        return alert_id
    queue_df = queue(spark, config)
    accounts_df = read_table(spark, config, "silver", "accounts")
    if accounts_df is not None:
        known_df = queue_df.join(
            accounts_df.selectExpr("account_number_token AS subject_token"),
            on="subject_token",
            how="left_semi",
        )
        row = _ordered(known_df).select("alert_id").first()
        if row:
            return row.alert_id
    row = queue_df.select("alert_id").first()
    if row is None:
        raise LookupError("the alert queue is empty: build gold first")
    return row.alert_id


def alert(spark: SparkSession, alert_id: str) -> DataFrame:
    """The alert's own row: severity, escalation, narrative and the rule's version and hash."""
    from pyspark.sql import functions as F

    return (
        spark.table("gold_alerts")
        .where(F.col("alert_id") == alert_id)
        .select(
            "alert_id",
            "rule_id",
            "rule_name",
            "rule_version",
            "param_hash",
            "alert_date",
            "base_severity",
            "effective_severity",
            "escalation_reason",
            "hit_count",
            "total_amount",
            "first_event_ts",
            "last_event_ts",
            "silver_version",
            "narrative",
        )  # fmt: skip
    )


def evidence(spark: SparkSession, alert_id: str) -> DataFrame:
    """The alert's transactions from silver, tokens only (the views hold no encrypted column)."""
    from pyspark.sql import functions as F

    ids_df = (
        spark.table("gold_alerts")
        .where(F.col("alert_id") == alert_id)
        .select(F.explode("transaction_ids").alias("transaction_id"))
    )
    return (
        spark.table("silver_transactions")
        .join(ids_df, on="transaction_id", how="left_semi")
        .select(
            "transaction_id",
            "event_ts",
            "amount",
            "payment_currency",
            "payment_type",
            "sender_account_token",
            "sender_bank_location",
            "receiver_account_token",
            "receiver_bank_location",
            "is_cross_border",
            "sender_high_risk_status",
            "receiver_high_risk_status",
        )  # fmt: skip
        .orderBy("event_ts", "transaction_id")
    )


def subject_details(
    spark: SparkSession, config: Config, alert_id: str, reason: str, user: str | None = None
) -> pd.DataFrame:
    """The subject's account number, and the customer's name and date of birth when the
    account is the bank's own: ``table, field, value`` rows.

    Raises:
        aml.crypto.access.AccessDenied: the user may not decrypt (audited, nothing decrypted).
    """
    import pandas as pd
    from pyspark.sql import functions as F

    from aml.crypto import access

    row = (
        spark.table("gold_alerts")
        .where(F.col("alert_id") == alert_id)
        .select("subject_token", "subject_role", "transaction_ids")
        .first()
    )
    if row is None:
        raise cases.UnknownAlert(f"no alert {alert_id!r} in gold.alerts")
    accounts_df = read_table(spark, config, "silver", "accounts")
    owner = None
    if accounts_df is not None:
        owner = accounts_df.where(F.col("account_number_token") == row.subject_token).first()
    out: list[tuple[str, str, str | None]] = []
    if owner is not None:
        (clear,) = access.decrypt(
            spark, config, "silver.accounts", [row.subject_token], ["account_number"],
            reason, user,
        )  # fmt: skip
        out.append(("silver.accounts", "account_number", clear["account_number"]))
        if owner.customer_id is not None:
            for found in access.decrypt(
                spark, config, "silver.customers", [owner.customer_id],
                ["full_name", "date_of_birth"], reason, user,
            ):  # fmt: skip
                out += [("silver.customers", f, found[f]) for f in ("full_name", "date_of_birth")]
    else:
        column = f"{row.subject_role}_account"
        (clear,) = access.decrypt(
            spark, config, "silver.transactions", [row.transaction_ids[0]], [column], reason, user
        )
        out.append(("silver.transactions", column, clear[column]))
    return pd.DataFrame(out, columns=["table", "field", "value"])


def audit_rows(spark: SparkSession, config: Config, reason: str) -> DataFrame:
    """The decrypt audit rows written for this reason (case reference), newest first."""
    from pyspark.sql import functions as F

    path = config.table_path("ops", "decrypt_audit")
    return (
        spark.read.format("delta")
        .load(path)
        .where(F.col("reason") == reason)
        .select(
            "audit_id",
            "at",
            "user_name",
            "os_user",
            "role",
            "table_name",
            "columns",
            "row_count",
            "outcome",
            "detail",
        )  # fmt: skip
        .orderBy(F.col("at").desc())
    )
