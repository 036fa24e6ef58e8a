"""The SAML-D source format's column names, in file order: one definition for every module.

``HEADER`` is the CSV header exactly as the public dataset spells it; ``FIELDS`` the same names in
lower case, as the source tables, bronze and the silver input contract name them.
"""

from __future__ import annotations

HEADER: tuple[str, ...] = (
    "Time", "Date", "Sender_account", "Receiver_account", "Amount", "Payment_currency",
    "Received_currency", "Sender_bank_location", "Receiver_bank_location", "Payment_type",
    "Is_laundering", "Laundering_type",
)  # fmt: skip
FIELDS: tuple[str, ...] = tuple(name.lower() for name in HEADER)
