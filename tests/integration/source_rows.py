"""SQL that fills the source ``core.transactions`` table in bulk, on PostgreSQL or MariaDB.

Tests of ingestion need exact control of ids, updates and commit timing, so they write rows with
set-based SQL (generate_series / MariaDB's sequence engine) instead of going through files.
"""

from __future__ import annotations

from typing import Any

COLUMNS = (
    "transaction_id, time, date, sender_account, receiver_account, amount, payment_currency, "
    "received_currency, sender_bank_location, receiver_bank_location, payment_type, "
    "is_laundering, laundering_type"
)


def insert_sql(kind: str, first: int, last: int) -> str:
    if kind == "postgresql":
        return (
            f"INSERT INTO core.transactions ({COLUMNS}) SELECT g, "
            "time '00:00:00' + (g % 86400) * interval '1 second', "
            "date '2022-10-07' + (g / 50000)::int, 1000000000 + g % 9973, 2000000000 + g % 7919, "
            "round((g % 100000)::numeric / 7 + 1, 2), 'UK pounds', 'Euro', 'UK', 'France', "
            "'Cross-border', 0, 'Normal_Fan_Out' "
            f"FROM generate_series({first}, {last}) g"
        )
    return (
        f"INSERT INTO core.transactions ({COLUMNS}) SELECT seq, SEC_TO_TIME(seq % 86400), "
        "DATE_ADD('2022-10-07', INTERVAL seq DIV 50000 DAY), 1000000000 + seq % 9973, "
        "2000000000 + seq % 7919, ROUND((seq % 100000) / 7 + 1, 2), 'UK pounds', 'Euro', 'UK', "
        "'France', 'Cross-border', 0, 'Normal_Fan_Out' "
        f"FROM seq_{first}_to_{last}"
    )


def insert_rows(conn: Any, kind: str, first: int, last: int) -> None:
    with conn.cursor() as cur:
        cur.execute(insert_sql(kind, first, last))
    conn.commit()


def update_every(conn: Any, step: int, first: int, last: int) -> int:
    """Raises the amount of every ``step``-th id in [first, last]; returns how many rows."""
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE core.transactions SET amount = amount + 1000, payment_type = 'ACH' "
            f"WHERE transaction_id BETWEEN {first} AND {last} AND transaction_id % {step} = 0"
        )
        n = cur.rowcount
    conn.commit()
    return n


def reset(conn: Any) -> None:
    """Empties the transactions table and drops columns a drift test may have added."""
    with conn.cursor() as cur:
        cur.execute("TRUNCATE TABLE core.transactions")
        cur.execute("ALTER TABLE core.transactions DROP COLUMN IF EXISTS channel")
    conn.commit()
