"""The standard analyst queries over silver, as named SQL (tokens, never account numbers).

Each query becomes a view of its own name, so a notebook's ``%sql`` cell only orders and limits
it, and the same definition serves the notebook, a scheduled export or a test. The queries read
the ``silver_transactions`` view (:mod:`aml.notebooks.views`), which has no encrypted columns.

High-risk locations are the jurisdictions silver flags from the versioned reference lists in
force (SAML-D's Mexico, Turkey, Morocco and UAE, and the FATF black and grey lists), not a list
typed into the query: a new FATF publication then changes the query's answer without an edit.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

TX_COLUMNS = (
    "transaction_id, event_ts, amount, payment_currency, payment_type, "
    "sender_account_token, sender_bank_location, receiver_account_token, "
    "receiver_bank_location"
)
LARGE_AMOUNT = 10_000
MIN_TRANSACTIONS = 3

QUERIES: dict[str, str] = {
    "laundering_transactions": f"""
        SELECT {TX_COLUMNS}, laundering_type
        FROM silver_transactions
        WHERE is_laundering = 1""",
    "large_transactions": f"""
        SELECT {TX_COLUMNS}
        FROM silver_transactions
        WHERE amount > {LARGE_AMOUNT}""",
    "high_risk_location_transactions": f"""
        SELECT {TX_COLUMNS}, sender_high_risk_status, receiver_high_risk_status,
               is_fatf_blacklisted
        FROM silver_transactions
        WHERE sender_high_risk_status IS NOT NULL OR receiver_high_risk_status IS NOT NULL""",
    "frequent_senders": f"""
        SELECT sender_account_token, count(*) AS transactions, sum(amount) AS total_amount,
               min(event_ts) AS first_event_ts, max(event_ts) AS last_event_ts
        FROM silver_transactions
        GROUP BY sender_account_token
        HAVING count(*) > {MIN_TRANSACTIONS}""",
    "frequent_receivers": f"""
        SELECT receiver_account_token, count(*) AS transactions, sum(amount) AS total_amount,
               min(event_ts) AS first_event_ts, max(event_ts) AS last_event_ts
        FROM silver_transactions
        GROUP BY receiver_account_token
        HAVING count(*) > {MIN_TRANSACTIONS}""",
}
DESCRIPTIONS = {
    "laundering_transactions": "transactions labelled as laundering (labels: measurement only)",
    "large_transactions": f"transactions over {LARGE_AMOUNT:,}",
    "high_risk_location_transactions": "either side in a high-risk or FATF-listed jurisdiction",
    "frequent_senders": f"senders with more than {MIN_TRANSACTIONS} transactions",
    "frequent_receivers": f"receivers with more than {MIN_TRANSACTIONS} transactions",
}


def register(spark: SparkSession) -> list[str]:
    """Creates a view per query (after :func:`aml.notebooks.views.register`)."""
    for name, sql in QUERIES.items():
        spark.sql(f"CREATE OR REPLACE TEMPORARY VIEW {name} AS {sql}")
    return list(QUERIES)


def run(spark: SparkSession, name: str) -> DataFrame:
    """One named query's rows."""
    if name not in QUERIES:
        raise KeyError(f"unknown query {name!r}; known: {sorted(QUERIES)}")
    return spark.sql(QUERIES[name])


def summary(spark: SparkSession) -> DataFrame:
    """Rows per query, in one pass per query: the table an analyst reads first."""
    parts = [
        f"SELECT '{name}' AS query, '{DESCRIPTIONS[name]}' AS meaning, count(*) AS rows FROM {name}"
        for name in QUERIES
    ]
    return spark.sql(" UNION ALL ".join(parts))
