"""silver.transactions and quarantine.transactions from raw (text) transactions: pure transforms.

``build`` is the whole silver logic for transactions and is what the batch job and the streaming
job both call: resolve duplicates, parse, check, split, enrich, then replace account numbers by
their keyed token and Fernet ciphertext. It reads no table and writes none.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from aml.crypto.columns import token, with_encrypted, with_tokenized
from aml.reference import Reference
from aml.silver.checks import CheckSuite, split_by_checks
from aml.silver.conform import (
    RAW_FIELDS,
    with_duplicates_resolved,
    with_enrichment,
    with_parsed,
)

ACCOUNT_FIELDS = ["sender_account", "receiver_account"]


@dataclass(frozen=True)
class SilverContext:
    """Everything ``build`` needs besides the rows: reference data, checks, keys, lineage."""

    ref: Reference
    suite: CheckSuite
    keyring: Any
    processed_at: dt.datetime
    encrypt: bool = True


def with_party_attributes(
    df: DataFrame, accounts_df: DataFrame | None, customers_df: DataFrame | None
) -> DataFrame:
    """Customer risk rating and PEP flag of sender and receiver, joined on account tokens.

    Counterparties held at other banks are not in silver.accounts: their attributes stay NULL.
    """
    if accounts_df is None or customers_df is None:
        return df.withColumns(
            {
                f"{side}_{attr}": F.lit(None).cast(kind)
                for side in ("sender", "receiver")
                for attr, kind in (("customer_risk_rating", "string"), ("is_pep", "boolean"))
            }
        )
    parties_df = accounts_df.join(customers_df, on="customer_id", how="left").select(
        "account_number_token", "risk_rating", "is_pep"
    )
    for side in ("sender", "receiver"):
        side_df = parties_df.select(
            F.col("account_number_token").alias(f"{side}_account_token"),
            F.col("risk_rating").alias(f"{side}_customer_risk_rating"),
            F.col("is_pep").alias(f"{side}_is_pep"),
        )
        df = df.join(F.broadcast(side_df), on=f"{side}_account_token", how="left")
    return df


def parties_of(raw_df: DataFrame, accounts_df: DataFrame, token_key: bytes) -> DataFrame:
    """The accounts that are a sender or receiver of ``raw_df``: what the enrichment joins, so an
    increment of a few rows neither scans nor broadcasts every account the bank holds."""
    tokens_df = raw_df.select(
        F.explode(F.array(*[token(F.col(c), token_key) for c in ACCOUNT_FIELDS])).alias(
            "account_number_token"
        )
    ).distinct()
    return accounts_df.join(tokens_df, on="account_number_token", how="left_semi")


def protect(
    df: DataFrame, ctx: SilverContext, columns: list[str], tokenize: bool = True
) -> DataFrame:
    if tokenize:
        df = with_tokenized(df, columns, ctx.keyring.token_key)
    if ctx.encrypt:
        return with_encrypted(df, columns, ctx.keyring)
    return df.drop(*columns)


SILVER_COLUMNS = (
    "transaction_id", "event_ts", "event_date", "amount", "payment_currency",
    "payment_currency_iso", "received_currency", "received_currency_iso", "sender_bank_location",
    "sender_country_iso", "receiver_bank_location", "receiver_country_iso", "payment_type",
    "is_cash", "is_cross_border", "sender_high_risk_status", "receiver_high_risk_status",
    "is_high_risk_jurisdiction", "is_fatf_blacklisted", "sender_account_token",
    "sender_account_enc", "receiver_account_token", "receiver_account_enc",
    "sender_customer_risk_rating", "sender_is_pep", "receiver_customer_risk_rating",
    "receiver_is_pep", "is_laundering", "laundering_type", "warnings", "updated_at",
    "_source", "_source_ref", "_reference_version", "_checks_version", "_processed_at",
)  # fmt: skip
QUARANTINE_COLUMNS = (
    "quarantine_key", "transaction_id", "reason_code", "reasons", "record_enc", "updated_at",
    "_source", "_source_ref", "_checks_version", "_processed_at",
)  # fmt: skip


EVENT_KEY = "_event_key"
RAW_RECORD = "_raw_record"


def quarantine_key(token_key: bytes, has_event_key: bool = False) -> Column:
    """Key of a quarantined row: its id when it has a valid one; else the event's own key when
    the input has one (``_event_key``: a Kafka topic/partition/offset, so every bad message
    stays one row, even two identical ones); else a keyed HMAC of the whole raw record (rows
    with no usable id stay distinct, and nobody without the key can confirm a guessed record
    from the key; the raw id text itself may hold anything, so it is not used)."""
    fallback = F.concat(F.lit("row:"), token(F.col("record"), token_key))
    if has_event_key:
        fallback = F.coalesce(F.col(EVENT_KEY), fallback)
    return F.coalesce(F.col("tx_id").cast("string"), fallback)


def raw_record(raw_df: DataFrame) -> Column:
    """What a quarantined row keeps (encrypted) of its input: the raw message when the input
    carries one (``_raw_record``: a Kafka value that may not even be JSON), else the fields."""
    fields = F.to_json(F.struct(*RAW_FIELDS))
    return F.coalesce(F.col(RAW_RECORD), fields) if RAW_RECORD in raw_df.columns else fields


def build(
    raw_df: DataFrame,
    ctx: SilverContext,
    accounts_df: DataFrame | None = None,
    customers_df: DataFrame | None = None,
) -> tuple[DataFrame, DataFrame]:
    """Raw text transactions -> (silver rows, quarantine rows); each input id lands in one.

    ``raw_df`` has the text fields of ``conform.RAW_FIELDS``, ``updated_at`` (TIMESTAMP),
    ``_source`` and ``_source_ref`` (where the row came from: a bronze version, a Kafka offset);
    optionally ``_event_key`` and ``_raw_record`` (see :func:`quarantine_key`, :func:`raw_record`).
    """
    if accounts_df is not None:
        accounts_df = parties_of(raw_df, accounts_df, ctx.keyring.token_key)
    lineage = {
        "_reference_version": F.lit(ctx.ref.version),
        "_checks_version": F.lit(ctx.suite.version),
        "_processed_at": F.lit(ctx.processed_at).cast("timestamp"),
    }
    parsed_df = (
        raw_df.transform(with_duplicates_resolved)
        .transform(lambda d: with_parsed(d, ctx.ref, ctx.suite.max_field_length, ctx.processed_at))
        .withColumn("record", raw_record(raw_df))
    )
    good_df, bad_df = split_by_checks(parsed_df, ctx.suite)
    silver_df = (
        good_df.transform(lambda d: with_enrichment(d, ctx.ref))
        .withColumns(
            {
                "transaction_id": F.col("tx_id"),
                "amount": F.col("amount_value"),
                "is_laundering": F.col("is_laundering").cast("int"),
                **lineage,
            }
        )
        .transform(lambda d: protect(d, ctx, ACCOUNT_FIELDS))
        .transform(lambda d: with_party_attributes(d, accounts_df, customers_df))
        .select(*[c for c in SILVER_COLUMNS if ctx.encrypt or not c.endswith("_enc")])
    )
    quarantine_df = (
        bad_df.withColumns(
            {
                "quarantine_key": quarantine_key(
                    ctx.keyring.token_key, EVENT_KEY in raw_df.columns
                ),
                "transaction_id": F.col("tx_id"),
                **lineage,
            }
        )
        .transform(lambda d: protect(d, ctx, ["record"], tokenize=False))
        .select(*[c for c in QUARANTINE_COLUMNS if ctx.encrypt or c != "record_enc"])
    )
    return silver_df, quarantine_df
