"""silver.customers and silver.accounts from bronze: typed, latest version per key, protected.

Account numbers become ``account_number_token`` (the join key transactions use) and
``account_number_enc``; names and dates of birth become ``_enc`` only.
"""

from __future__ import annotations

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

from aml.silver.conform import lookup
from aml.silver.transactions import SilverContext, protect


def latest_per_key(df: DataFrame, key: str) -> DataFrame:
    """One row per ``key``: the newest ``updated_at`` (then the newest commit) wins."""
    newest = Window.partitionBy(key).orderBy(
        F.col("updated_at").desc_nulls_last(), F.col("_commit_version").desc()
    )
    return df.withColumn("_n", F.row_number().over(newest)).where("_n = 1").drop("_n")


ACCOUNT_COLUMNS = (
    "account_number_token", "account_number_enc", "customer_id", "bank_location",
    "country_iso", "opened_date", "updated_at", "_processed_at",
)  # fmt: skip
CUSTOMER_COLUMNS = (
    "customer_id", "full_name_enc", "date_of_birth_enc", "country", "risk_rating", "is_pep",
    "updated_at", "_processed_at",
)  # fmt: skip


def build_accounts(bronze_df: DataFrame, ctx: SilverContext) -> DataFrame:
    return (
        latest_per_key(bronze_df, "account_number")
        .withColumns(
            {
                "account_number": F.col("account_number").cast("string"),
                "country_iso": lookup(F.col("bank_location"), ctx.ref.locations),
                "_processed_at": F.lit(ctx.processed_at).cast("timestamp"),
            }
        )
        .transform(lambda d: protect(d, ctx, ["account_number"]))
        .select(*[c for c in ACCOUNT_COLUMNS if ctx.encrypt or not c.endswith("_enc")])
    )


def build_customers(bronze_df: DataFrame, ctx: SilverContext) -> DataFrame:
    return (
        latest_per_key(bronze_df, "customer_id")
        .withColumns(
            {
                "date_of_birth": F.col("date_of_birth").cast("string"),
                "is_pep": F.col("is_pep").cast("boolean"),
                "_processed_at": F.lit(ctx.processed_at).cast("timestamp"),
            }
        )
        .transform(lambda d: protect(d, ctx, ["full_name", "date_of_birth"], tokenize=False))
        .select(*[c for c in CUSTOMER_COLUMNS if ctx.encrypt or not c.endswith("_enc")])
    )
