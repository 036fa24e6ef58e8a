"""``customers.csv`` and ``accounts.csv``: the KYC side the alerts are escalated with.

SAML-D has no customer data, so this is invented but consistent: every account that transacts is
listed once with its owner; a customer's country is the ISO code of its accounts' bank location;
about 3.5 % of ordinary customers are HIGH risk and 1 % are PEPs. Owners of injected (mule)
accounts are somewhat more often HIGH risk or PEP, as a bank's KYC would partly have noticed them,
which gives the escalation step something real to do without making risk a perfect label.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pacsv

from aml.generate.domains import HIGH_RISK_DEST, LOCATION_ISO2, LOCATION_NAMES
from aml.generate.population import P_PEOPLE, account_numbers, stream

FIRST_NAMES = (
    "Oliver",
    "Amelia",
    "George",
    "Isla",
    "Harry",
    "Ava",
    "Jack",
    "Mia",
    "Noah",
    "Grace",
    "Leo",
    "Freya",
    "Arthur",
    "Lily",
    "Muhammad",
    "Sophia",
    "Oscar",
    "Emily",
    "Charlie",
    "Ella",
    "James",
    "Evie",
    "William",
    "Poppy",
    "Thomas",
    "Chloe",
    "Samuel",
    "Ruby",
    "Daniel",
    "Zara",
    "Aisha",
    "Omar",
    "Priya",
    "Arjun",
    "Fatima",
    "Yusuf",
    "Chidi",
    "Ngozi",
    "Elif",
    "Mehmet",
    "Lucia",
    "Mateo",
    "Sofia",
    "Luca",
    "Hannah",
    "Lukas",
    "Yuki",
    "Haruto",
    "Sara",
    "Karim",
    "Ana",
    "Diego",
    "Elena",
    "Marco",
    "Anna",
    "Felix",
    "Emma",
    "Hugo",
    "Layla",
    "Adam",
)
LAST_NAMES = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Jackson",
    "Clarke",
    "Khan",
    "Ahmed",
    "Ali",
    "Hussain",
    "Singh",
    "Shah",
    "Begum",
    "Okafor",
    "Adeyemi",
    "Mensah",
    "Yilmaz",
    "Kaya",
    "Demir",
    "Garcia",
    "Martinez",
    "Lopez",
    "Rossi",
    "Bianchi",
    "Muller",
    "Schmidt",
    "Dubois",
    "Martin",
    "Bernard",
    "Jansen",
    "De Vries",
    "Tanaka",
    "Sato",
    "Suzuki",
    "Sharma",
    "Gupta",
    "Hoxha",
    "Shehu",
    "Benali",
    "El Amrani",
    "Haddad",
    "Hernandez",
    "Novak",
    "Fischer",
    "Moreau",
)
CUSTOMER_HEADER = ("customer_id", "full_name", "date_of_birth", "country", "risk_rating", "is_pep")
ACCOUNT_HEADER = ("account_number", "customer_id", "bank_location", "opened_date")
_OPTIONS = pacsv.WriteOptions(include_header=False, quoting_style="none")


@dataclass(frozen=True)
class Owners:
    """A block of consecutive accounts and who owns them.

    Attributes:
        first_account: index of the block's first account.
        loc: bank location per account.
        customer: 0-based customer number per account (non-decreasing, starting at
            ``first_customer``; ``customer_id`` in the CSV is this number + 1).
        is_mule: per account, whether it was created for an injected instance.
        opened_before: the date every account's opened_date precedes.
    """

    first_account: int
    loc: np.ndarray
    customer: np.ndarray
    is_mule: np.ndarray
    opened_before: dt.date


def _dates(base: np.ndarray, minus_days: np.ndarray) -> pa.Array:
    ordinal = base.astype("datetime64[D]") - minus_days.astype("timedelta64[D]")
    return pa.array(ordinal.astype(str))


def _write(path: Path, header: tuple[str, ...], table: pa.Table) -> None:
    with path.open("wb") as fh:
        fh.write((",".join(header) + "\n").encode())
        pacsv.write_csv(table, fh, write_options=_OPTIONS)


def write_people(
    directory: Path, seed: int, key: int, owners: Owners, start: dt.date
) -> tuple[int, int]:
    """Writes customers.csv and accounts.csv for one block; returns (customers, accounts)."""
    rng = stream(seed, P_PEOPLE, key)
    n_acc = owners.loc.size
    firsts = np.flatnonzero(np.r_[True, owners.customer[1:] != owners.customer[:-1]])
    n_cust = firsts.size
    cust_loc = owners.loc[firsts]
    cust_mule = owners.is_mule[firsts]
    high_risk_country = np.isin(cust_loc, HIGH_RISK_DEST)
    p_high = np.where(cust_mule, 0.15, np.where(high_risk_country, 0.12, 0.03))
    p_medium = np.where(cust_mule, 0.35, 0.20)
    u = rng.random(n_cust)
    risk = np.where(u < p_high, "HIGH", np.where(u < p_high + p_medium, "MEDIUM", "LOW"))
    is_pep = (rng.random(n_cust) < np.where(cust_mule, 0.03, 0.01)).astype(np.int8)
    first = np.asarray(FIRST_NAMES)[rng.integers(0, len(FIRST_NAMES), n_cust)]
    last = np.asarray(LAST_NAMES)[rng.integers(0, len(LAST_NAMES), n_cust)]
    start64 = np.full(n_cust, np.datetime64(start.isoformat()))
    customers = pa.table(
        {
            "customer_id": pa.array(owners.customer[firsts] + 1),
            "full_name": pa.array(np.char.add(np.char.add(first, " "), last)),
            "date_of_birth": _dates(start64, rng.integers(18 * 365, 85 * 365, n_cust)),
            "country": pa.array(LOCATION_ISO2).take(pa.array(cust_loc)),
            "risk_rating": pa.array(risk),
            "is_pep": pa.array(is_pep),
        }
    )
    age_days = np.where(owners.is_mule, rng.integers(1, 366, n_acc), rng.integers(30, 3651, n_acc))
    index = np.arange(owners.first_account, owners.first_account + n_acc)
    accounts = pa.table(
        {
            "account_number": pa.array(account_numbers(seed, index)),
            "customer_id": pa.array(owners.customer + 1),
            "bank_location": pa.array(LOCATION_NAMES).take(pa.array(owners.loc)),
            "opened_date": _dates(
                np.full(n_acc, np.datetime64(owners.opened_before.isoformat())), age_days
            ),
        }
    )
    directory.mkdir(parents=True, exist_ok=True)
    _write(directory / "customers.csv", CUSTOMER_HEADER, customers)
    _write(directory / "accounts.csv", ACCOUNT_HEADER, accounts)
    return n_cust, n_acc
