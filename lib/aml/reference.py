"""Reference data from ``conf/reference/``: code lists and the versioned high-risk lists.

Small enough to hold in the driver and turn into literal map expressions, so conforming a
billion rows needs no join. High-risk lists are versioned by ``effective_from``: :func:`load`
takes, per country, the newest entry in force on the date asked for.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
from dataclasses import dataclass, field
from pathlib import Path

from aml.config import Config

BLACKLIST = "BLACKLIST"


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


@dataclass(frozen=True)
class Reference:
    """Code lists and the high-risk jurisdictions in force on ``as_of``.

    Attributes:
        currencies: SAML-D currency name -> ISO 4217.
        locations: SAML-D location name -> ISO 3166-1 alpha-2.
        payment_types: SAML-D payment type -> is cash.
        high_risk: ISO country -> list status (``SAML_D_HIGH_RISK``, ``GREYLIST``, ``BLACKLIST``).
        laundering_types: SAML-D ``Laundering_type`` -> the ``Is_laundering`` it implies.
        version: a short hash of every file read, recorded with what is built from it.
    """

    currencies: dict[str, str]
    locations: dict[str, str]
    payment_types: dict[str, bool]
    high_risk: dict[str, str]
    laundering_types: dict[str, int]
    as_of: dt.date
    version: str = field(default="")

    @property
    def cash_types(self) -> list[str]:
        return sorted(name for name, cash in self.payment_types.items() if cash)

    @property
    def blacklist(self) -> list[str]:
        return sorted(iso for iso, status in self.high_risk.items() if status == BLACKLIST)


_SEVERITY = {"SAML_D_HIGH_RISK": 1, "GREYLIST": 2, BLACKLIST: 3}


def _list_in_force(versions: list[Path], as_of: dt.date) -> list[dict[str, str]]:
    """Rows of the newest version of a list (a file) already in force on ``as_of``.

    A list publication replaces the previous one whole: a country dropped from the newer file
    is no longer listed.
    """
    dated = []
    for path in versions:
        rows = _rows(path)
        since = max(dt.date.fromisoformat(r["effective_from"]) for r in rows)
        if since <= as_of:
            dated.append((since, rows))
    return max(dated, key=lambda item: item[0])[1] if dated else []


def load(config: Config, as_of: dt.date | None = None) -> Reference:
    """Reads ``conf/reference``; high-risk entries effective after ``as_of`` are left out."""
    folder = config.root / "conf" / "reference"
    as_of = as_of or dt.date.today()
    digest = hashlib.sha256()
    files = sorted(folder.glob("*.csv"))
    for path in files:
        digest.update(path.name.encode() + path.read_bytes())
    high_risk: dict[str, str] = {}
    for family in ("fatf_", "high_risk_"):
        for row in _list_in_force([p for p in files if p.name.startswith(family)], as_of):
            status = row.get("fatf_status") or row["list_status"]
            if _SEVERITY[status] > _SEVERITY.get(high_risk.get(row["iso2"], ""), 0):
                high_risk[row["iso2"]] = status
    return Reference(
        currencies={r["name"]: r["iso4217"] for r in _rows(folder / "currencies.csv")},
        locations={r["name"]: r["iso3166"] for r in _rows(folder / "locations.csv")},
        payment_types={
            r["name"]: r["is_cash"] == "true" for r in _rows(folder / "payment_types.csv")
        },
        high_risk=high_risk,
        laundering_types={
            r["name"]: int(r["is_laundering"]) for r in _rows(folder / "laundering_types.csv")
        },
        as_of=as_of,
        version=digest.hexdigest()[:12],
    )
