"""Conforming raw transactions: parse, map to ISO codes, flag, and resolve duplicates.

The input contract is text: the 12 SAML-D fields and ``transaction_id`` as strings, plus
``updated_at`` and lineage columns. Bronze from JDBC is cast to text first and the Kafka stream
is text already, so both engines go through exactly the same functions. Parsing never fails a
job: a value that does not parse becomes NULL beside its raw text, and the checks in
``conf/checks`` turn that into a quarantine reason.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from itertools import chain

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from aml import saml_d
from aml.reference import Reference

SAML_D_FIELDS = saml_d.FIELDS
RAW_FIELDS = ("transaction_id", *SAML_D_FIELDS)

_DATE_RE = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$"
_TIME_RE = r"^([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]$"
_AMOUNT_RE = r"^-?[0-9]{1,12}([.][0-9]{1,2})?$"


def lookup(col: Column, mapping: Mapping[str, object]) -> Column:
    """Maps a column through a small dict as a literal map (NULL when the key is unknown)."""
    if not mapping:
        return F.lit(None)
    literal = F.create_map(*[F.lit(x) for x in chain.from_iterable(mapping.items())])
    return F.try_element_at(literal, col)


def parse_date(date_col: Column) -> Column:
    """``YYYY-MM-DD`` to DATE; NULL unless the text has that exact shape and is a real date."""
    return F.when(date_col.rlike(_DATE_RE), F.try_to_date(date_col, "yyyy-MM-dd"))


def parse_event_ts(date_col: Column, time_col: Column) -> Column:
    """SAML-D Date + Time as a UTC timestamp (second resolution), NULL if either is invalid."""
    text = F.concat_ws(" ", date_col, time_col)
    valid = date_col.rlike(_DATE_RE) & time_col.rlike(_TIME_RE)
    return F.when(valid, F.try_to_timestamp(text, F.lit("yyyy-MM-dd HH:mm:ss")))


def parse_amount(amount_col: Column) -> Column:
    """Decimal pounds with at most two places; NULL for anything else (never rounded)."""
    return F.when(amount_col.rlike(_AMOUNT_RE), amount_col.try_cast("decimal(14,2)"))


def any_longer_than(columns: list[str], limit: int) -> Column:
    return F.greatest(*[F.coalesce(F.length(c), F.lit(0)) for c in columns]) > limit


def with_text_fields(bronze_df: DataFrame) -> DataFrame:
    """Casts the SAML-D fields and ``transaction_id`` of a typed bronze table to text."""
    extra = [c for c in bronze_df.columns if c not in RAW_FIELDS]
    return bronze_df.select(
        *[F.col(c).cast("string").alias(c) for c in RAW_FIELDS],
        *extra,
    )


def with_parsed(
    df: DataFrame, ref: Reference, max_field_length: int, processed_at: dt.datetime
) -> DataFrame:
    """Adds typed and looked-up values beside the raw text; the checks read both."""
    expected = {k: v for k, v in ref.laundering_types.items()}
    return df.withColumns(
        {
            "tx_id": F.col("transaction_id").try_cast("bigint"),
            "event_date": parse_date(F.col("date")),
            "event_ts": parse_event_ts(F.col("date"), F.col("time")),
            "amount_value": parse_amount(F.col("amount")),
            "payment_currency_iso": lookup(F.col("payment_currency"), ref.currencies),
            "received_currency_iso": lookup(F.col("received_currency"), ref.currencies),
            "sender_country_iso": lookup(F.col("sender_bank_location"), ref.locations),
            "receiver_country_iso": lookup(F.col("receiver_bank_location"), ref.locations),
            "is_known_payment_type": F.col("payment_type").isin(list(ref.payment_types)),
            "is_cash": F.col("payment_type").isin(ref.cash_types),
            "is_known_laundering_type": F.col("laundering_type").isin(list(expected)),
            "expected_is_laundering": lookup(F.col("laundering_type"), expected),
            "is_oversize": any_longer_than(list(RAW_FIELDS), max_field_length),
            "processed_at": F.lit(processed_at).cast("timestamp"),
        }
    )


def with_duplicates_resolved(df: DataFrame) -> DataFrame:
    """One row per ``transaction_id``: the latest ``updated_at`` wins.

    When several rows share the latest ``updated_at`` and their content differs, nobody can tell
    which is right: one of them (chosen deterministically) is kept with
    ``is_duplicate_conflict`` set, so the checks quarantine it. Rows without an id are kept as
    they are (they are quarantined by ``MISSING_ID``).
    """
    content = F.sha2(F.to_json(F.struct(*[F.col(c) for c in SAML_D_FIELDS])), 256)
    by_id = Window.partitionBy("transaction_id")
    latest = Window.partitionBy("transaction_id").orderBy(
        F.col("updated_at").desc_nulls_last(), F.col("_content_hash")
    )
    ranked = df.withColumn("_content_hash", content).withColumn(
        "_rank", F.row_number().over(latest)
    )
    at_latest = F.col("updated_at") == F.max("updated_at").over(by_id)
    variants = F.size(F.collect_set(F.when(at_latest, F.col("_content_hash"))).over(by_id))
    resolved = ranked.withColumn(
        "is_duplicate_conflict", F.col("transaction_id").isNotNull() & (variants > 1)
    )
    keep = F.col("transaction_id").isNull() | (F.col("_rank") == 1)
    return resolved.where(keep).drop("_rank", "_content_hash")


def with_enrichment(df: DataFrame, ref: Reference) -> DataFrame:
    """Cross-border and high-risk-jurisdiction flags from the reference lists in force."""
    sender_status = lookup(F.col("sender_country_iso"), ref.high_risk)
    receiver_status = lookup(F.col("receiver_country_iso"), ref.high_risk)
    blacklist = ref.blacklist
    return df.withColumns(
        {
            "is_cross_border": F.col("sender_country_iso") != F.col("receiver_country_iso"),
            "sender_high_risk_status": sender_status,
            "receiver_high_risk_status": receiver_status,
            "is_high_risk_jurisdiction": sender_status.isNotNull() | receiver_status.isNotNull(),
            "is_fatf_blacklisted": F.coalesce(
                F.col("sender_country_iso").isin(blacklist)
                | F.col("receiver_country_iso").isin(blacklist),
                F.lit(False),
            ),
        }
    )
