"""SAML-D value domains, shares and the index codes the generator works with.

Every categorical column is carried through the generator as a small integer index into one of the
tuples below and only turned into text when a day is written. Keeping the spellings in one place
is what lets a user swap the real SAML-D file in without a mapping step: a typo here would be a
silent schema drift (the real file's own quirks, ``Normal_Foward``, ``Normal_single_large`` and
``Stacked Bipartite`` with a space, are kept on purpose).
"""

from __future__ import annotations

import numpy as np

from aml import saml_d

HEADER = saml_d.HEADER

PAYMENT_TYPES = (
    "ACH",
    "Cheque",
    "Credit card",
    "Debit card",
    "Cross-border",
    "Cash Withdrawal",
    "Cash Deposit",
)
ACH, CHEQUE, CREDIT, DEBIT, CROSS, CASH_OUT, CASH_IN = range(7)
DOMESTIC_TYPES = (ACH, CHEQUE, CREDIT, DEBIT)
CASH_TYPES = (CASH_OUT, CASH_IN)

# Location name, ISO 3166 alpha-2, currency name: one row per SAML-D bank location.
LOCATIONS = (
    ("UK", "GB", "UK pounds"),
    ("USA", "US", "US dollar"),
    ("France", "FR", "Euro"),
    ("Germany", "DE", "Euro"),
    ("Italy", "IT", "Euro"),
    ("Spain", "ES", "Euro"),
    ("Netherlands", "NL", "Euro"),
    ("Austria", "AT", "Euro"),
    ("Switzerland", "CH", "Swiss franc"),
    ("Japan", "JP", "Yen"),
    ("India", "IN", "Indian rupee"),
    ("Pakistan", "PK", "Pakistani rupee"),
    ("Nigeria", "NG", "Naira"),
    ("Albania", "AL", "Albanian lek"),
    ("Turkey", "TR", "Turkish lira"),
    ("Morocco", "MA", "Moroccan dirham"),
    ("UAE", "AE", "Dirham"),
    ("Mexico", "MX", "Mexican Peso"),
)
LOCATION_NAMES = tuple(loc[0] for loc in LOCATIONS)
LOCATION_ISO2 = tuple(loc[1] for loc in LOCATIONS)
CURRENCIES = (
    "UK pounds",
    "Euro",
    "US dollar",
    "Yen",
    "Swiss franc",
    "Indian rupee",
    "Pakistani rupee",
    "Dirham",
    "Moroccan dirham",
    "Turkish lira",
    "Mexican Peso",
    "Naira",
    "Albanian lek",
)
LOCATION_CURRENCY = np.array([CURRENCIES.index(loc[2]) for loc in LOCATIONS], dtype=np.int8)
UK = 0
# Share of non-UK accounts per foreign location (weights, normalised where used).
FOREIGN_WEIGHTS = np.array(
    [0, 14, 10, 10, 6, 7, 5, 3, 4, 3, 8, 6, 5, 3, 5, 4, 5, 3], dtype=np.float64
)
# Where laundering money tends to land in SAML-D: Nigeria, Morocco, Albania, UAE, Mexico (+Turkey).
HIGH_RISK_DEST = np.array(
    [LOCATION_NAMES.index(n) for n in ("Nigeria", "Morocco", "Albania", "UAE", "Mexico", "Turkey")]
)

SUSPICIOUS_TYPES = (
    "Structuring",
    "Cash_Withdrawal",
    "Deposit-Send",
    "Smurfing",
    "Layered_Fan_In",
    "Layered_Fan_Out",
    "Stacked Bipartite",
    "Behavioural_Change_1",
    "Bipartite",
    "Cycle",
    "Fan_In",
    "Gather-Scatter",
    "Behavioural_Change_2",
    "Scatter-Gather",
    "Single_large",
    "Fan_Out",
    "Over-Invoicing",
)
# Rows per suspicious type in the real file: the mix the planner aims for.
SUSPICIOUS_ROWS = (
    1870,
    1334,
    945,
    932,
    656,
    529,
    506,
    394,
    383,
    382,
    364,
    354,
    345,
    338,
    250,
    237,
    54,
)
NORMAL_TYPES = (
    "Normal_Small_Fan_Out",
    "Normal_Fan_Out",
    "Normal_Fan_In",
    "Normal_Group",
    "Normal_Cash_Withdrawal",
    "Normal_Cash_Deposits",
    "Normal_Periodical",
    "Normal_Plus_Mutual",
    "Normal_Mutual",
    "Normal_Foward",
    "Normal_single_large",
)
NORMAL_SHARES = np.array([36.6, 24.2, 22.1, 5.6, 3.2, 2.4, 2.2, 1.6, 1.3, 0.4, 0.2])
NORMAL_SHARES = NORMAL_SHARES / NORMAL_SHARES.sum()
LAUNDERING_TYPES = NORMAL_TYPES + SUSPICIOUS_TYPES
IS_LAUNDERING = np.array([0] * len(NORMAL_TYPES) + [1] * len(SUSPICIOUS_TYPES), dtype=np.int8)


def ltype(name: str) -> int:
    """Index of a ``Laundering_type`` spelling; raises ``ValueError`` on a misspelling."""
    return LAUNDERING_TYPES.index(name)


# Typology -> rule the v1 rule pack is meant to catch it with (RULES.md); None = no v1 rule.
TYPOLOGY_RULE: dict[str, str | None] = {
    "Single_large": "R01",
    "Structuring": "R03",
    "Smurfing": "R04",
    "Fan_In": "R05",
    "Layered_Fan_In": "R05",
    "Fan_Out": "R06",
    "Layered_Fan_Out": "R06",
    "Behavioural_Change_1": "R07",
    "Cycle": "R08",
    "Deposit-Send": "R09",
    "Cash_Withdrawal": None,
    "Behavioural_Change_2": None,
    "Bipartite": None,
    "Stacked Bipartite": None,
    "Scatter-Gather": None,
    "Gather-Scatter": None,
    "Over-Invoicing": None,
}

# Hourly activity profile (00..23): quiet nights, busy office hours.
HOUR_WEIGHTS = np.array(
    [
        1,
        0.6,
        0.4,
        0.3,
        0.3,
        0.5,
        1.2,
        2.5,
        4,
        5.5,
        6,
        6,
        6,
        6,
        5.8,
        5.5,
        5,
        4.5,
        4,
        3.5,
        3,
        2.5,
        2,
        1.5,
    ]
)
HOUR_WEIGHTS = HOUR_WEIGHTS / HOUR_WEIGHTS.sum()

DAY = 86_400
HOUR = 3_600
