"""The event contract of topic ``aml.transactions.v1`` and its two sides.

One JSON object per transaction, keyed by the sender account: the 12 SAML-D fields in lower case
(``saml_d.FIELDS``) plus ``transaction_id``. ``transaction_id`` and ``is_laundering`` are JSON
integers, ``amount`` a JSON number written with its exact decimal text (never through a float),
every other field a string. Example::

    {"transaction_id": 42, "time": "10:35:19", "date": "2022-10-07",
     "sender_account": "8724731955", "receiver_account": "2769355426", "amount": 1459.15,
     "payment_currency": "UK pounds", "received_currency": "UK pounds",
     "sender_bank_location": "UK", "receiver_bank_location": "UK",
     "payment_type": "Cash Deposit", "is_laundering": 0, "laundering_type": "Normal_Cash_Deposit"}

The producer side (:func:`encode`) is plain Python; the consumer side (:func:`with_envelope`) is
Spark: it parses the raw bytes into a VARIANT (``try_parse_json``), so every JSON type is known
exactly, and yields the silver input contract (the fields as text) plus the columns that the
envelope checks (``conf/checks/transaction_events.toml``) read. Bytes that are not JSON, not an
object, or of a wrong type are never dropped: they are judged, and quarantined with a reason.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from aml import saml_d

CONTRACT_VERSION = 1
# field -> the JSON types it may have, as Spark's schema_of_variant names them (by prefix)
INTEGER_TYPES = ("BIGINT", "INT", "SMALLINT", "TINYINT", "DECIMAL(%,0)")
NUMBER_TYPES = ("BIGINT", "INT", "SMALLINT", "TINYINT", "DECIMAL", "DOUBLE", "FLOAT")
FIELD_TYPES: dict[str, tuple[str, ...]] = {
    "transaction_id": INTEGER_TYPES,
    **{name: ("STRING",) for name in saml_d.FIELDS},
    "amount": NUMBER_TYPES,
    "is_laundering": INTEGER_TYPES,
}
FIELDS = ("transaction_id", *saml_d.FIELDS)
_NUMBER_RE = re.compile(r"^-?[0-9]+([.][0-9]+)?$")
_INTEGER_RE = re.compile(r"^-?[0-9]+$")


class ContractError(ValueError):
    """A row cannot be written as an event of this contract."""


def encode(row: Mapping[str, object]) -> bytes:
    """One transaction (text or typed values, keys as in ``FIELDS``) as the event's JSON bytes.

    Numbers are written from their text, so ``5.00`` stays ``5.00`` on the wire and the consumer
    reads back exactly the decimal the source held.
    """
    parts = []
    for name in FIELDS:
        value = row.get(name)
        if value is None:
            raise ContractError(f"field {name} is missing")
        text = str(value)
        if name in ("transaction_id", "is_laundering"):
            if not _INTEGER_RE.match(text):
                raise ContractError(f"field {name} is not an integer")
            rendered = text
        elif name == "amount":
            if not _NUMBER_RE.match(text):
                raise ContractError("field amount is not a decimal number")
            rendered = text
        else:
            rendered = json.dumps(text, ensure_ascii=False)
        parts.append(f'"{name}":{rendered}')
    return ("{" + ",".join(parts) + "}").encode("utf-8")


def _type_ok(type_col: Column, allowed: tuple[str, ...]) -> Column:
    """TRUE when a ``schema_of_variant`` type name is one of ``allowed`` (``%`` is a wildcard,
    ``DECIMAL`` alone matches any precision and scale)."""
    tests = []
    for name in allowed:
        if "%" in name:
            tests.append(type_col.like(name))
        elif name == "DECIMAL":
            tests.append(type_col.startswith("DECIMAL"))
        else:
            tests.append(type_col == name)
    result = tests[0]
    for test in tests[1:]:
        result = result | test
    return result


def with_envelope(events_df: DataFrame, max_message_bytes: int) -> DataFrame:
    """Raw events (``value`` BINARY plus Kafka metadata) -> the silver input contract.

    Adds the text fields of ``FIELDS`` (NULL when absent or unusable) and the envelope columns:
    ``message_bytes``, ``is_oversize_message``, ``is_empty_message``, ``is_json``,
    ``is_object`` and ``wrong_type_fields`` (the fields whose JSON type breaks the contract).
    Keys the contract does not know are ignored (a v1 consumer reads v1 fields; bronze keeps the
    whole message).
    """
    size = F.coalesce(F.octet_length("value"), F.lit(0))
    is_oversize = size > max_message_bytes
    text = F.when(~is_oversize, F.col("value").cast("string"))
    parsed_df = events_df.withColumns(
        {
            "message_bytes": size,
            "is_oversize_message": is_oversize,
            "is_empty_message": size == 0,
            "_v": F.try_parse_json(text),
        }
    )
    is_object = F.coalesce(F.schema_of_variant("_v").startswith("OBJECT"), F.lit(False))
    fields: dict[str, Column] = {}
    wrong: list[Column] = []
    for name in FIELDS:
        element = F.when(is_object, F.try_variant_get("_v", f"$.{name}", "variant"))
        kind = F.schema_of_variant(element)
        present = element.isNotNull() & (kind != "VOID")
        is_wrong = present & ~_type_ok(kind, FIELD_TYPES[name])
        wrong.append(F.when(is_wrong, F.lit(name)))
        fields[name] = F.when(present & ~is_wrong, F.try_variant_get(element, "$", "string"))
    return parsed_df.withColumns(
        {
            "is_json": F.col("_v").isNotNull(),
            "is_object": is_object,
            "wrong_type_fields": F.filter(F.array(*wrong), lambda c: c.isNotNull()),
            **fields,
        }
    ).drop("_v")
