"""Suppression as data: an allow-list of known-good patterns, each owned, reasoned and expiring.

``conf/suppressions.toml`` (or the file ``[gold] suppressions`` names) lists entries such as a
verified payroll fan-out. An entry names the subject by its token (never an account number: the
token is what silver and gold hold, and ``aml suppressions token`` computes it), the rules it
covers (``"*"`` for all), an owner, a reason, and the event dates it covers
(``valid_from`` to ``expires``, both inclusive). A hit it matches stays in gold, flagged
``is_suppressed`` with the entry's id, and does not count towards its period's score; nothing is
dropped. Matching on the hit's event date, not on the run date, keeps a full rebuild and an
increment equal; a changed list changes the pack fingerprint, which makes the next gold run a
full rebuild. Every run records, per entry, how many hits it suppressed
(``ops.suppression_audit``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from aml.config import Config, ConfigError

DEFAULT_FILE = "suppressions.toml"
TOKEN_SHAPE = re.compile(r"^[0-9a-f]{64}$")
ALL_RULES = "*"
REQUIRED = ("id", "subject_token", "rules", "owner", "reason", "valid_from", "expires")
AUDIT_SCHEMA = (
    "run_id STRING NOT NULL, suppression_id STRING NOT NULL, owner STRING NOT NULL, "
    "reason STRING NOT NULL, rules STRING NOT NULL, valid_from DATE NOT NULL, "
    "expires DATE NOT NULL, hits_suppressed BIGINT NOT NULL, recorded_at TIMESTAMP NOT NULL"
)


@dataclass(frozen=True)
class Suppression:
    """One allow-list entry (see the module docstring)."""

    id: str
    subject_token: str
    rules: tuple[str, ...]
    owner: str
    reason: str
    valid_from: dt.date
    expires: dt.date

    def covers(self, rule_id: str, subject_token: str, event_date: dt.date) -> bool:
        """The entry's semantics in plain Python (what :meth:`AllowList.apply` computes)."""
        return (
            subject_token == self.subject_token
            and (ALL_RULES in self.rules or rule_id in self.rules)
            and self.valid_from <= event_date <= self.expires
        )


def _entry(raw: dict[str, Any], source: str) -> Suppression:
    missing = [k for k in REQUIRED if k not in raw]
    name = raw.get("id", "?")
    if missing:
        raise ConfigError(f"{source}: suppression {name} lacks {missing}")
    token = str(raw["subject_token"])
    if not TOKEN_SHAPE.match(token):
        raise ConfigError(
            f"{source}: suppression {name}: subject_token must be a 64-hex account token "
            "(`aml suppressions token --account N`), never an account number"
        )
    rules = tuple(raw["rules"]) if isinstance(raw["rules"], list) else (str(raw["rules"]),)
    if not rules:
        raise ConfigError(f'{source}: suppression {name}: rules is empty (rule ids or "*")')
    if not all(isinstance(r, str) and r for r in rules):
        raise ConfigError(f'{source}: suppression {name}: rules must be rule ids or "*"')
    dates = []
    for key in ("valid_from", "expires"):
        value = raw[key]
        if not isinstance(value, dt.date) or isinstance(value, dt.datetime):
            raise ConfigError(f"{source}: suppression {name}: {key} must be a date (YYYY-MM-DD)")
        dates.append(value)
    if dates[1] < dates[0]:
        raise ConfigError(f"{source}: suppression {name}: expires before valid_from")
    for key in ("owner", "reason"):
        if not str(raw[key]).strip():
            raise ConfigError(f"{source}: suppression {name}: {key} must not be empty")
    return Suppression(
        id=str(raw["id"]),
        subject_token=token,
        rules=rules,
        owner=str(raw["owner"]),
        reason=str(raw["reason"]),
        valid_from=dates[0],
        expires=dates[1],
    )


@dataclass(frozen=True)
class AllowList:
    """The loaded allow-list; empty when there is no file."""

    entries: tuple[Suppression, ...] = ()

    def fingerprint(self) -> str:
        canonical = json.dumps(
            [
                [e.id, e.subject_token, sorted(e.rules), str(e.valid_from), str(e.expires)]
                for e in sorted(self.entries, key=lambda e: e.id)
            ]
        )
        return hashlib.sha256(canonical.encode()).hexdigest()[:16]

    def apply(self, hits_df: DataFrame) -> DataFrame:
        """Adds ``is_suppressed`` and ``suppression_id`` (the lowest matching entry id)."""
        if not self.entries:
            return hits_df.withColumns(
                {
                    "is_suppressed": F.lit(False),
                    "suppression_id": F.lit(None).cast("string"),
                }
            )
        spark = hits_df.sparkSession
        entries_df = spark.createDataFrame(
            [(e.id, e.subject_token, list(e.rules), e.valid_from, e.expires) for e in self.entries],
            "sup_id STRING, sup_token STRING, sup_rules ARRAY<STRING>, sup_from DATE, sup_to DATE",
        )
        matches = (
            (F.col("subject_token") == F.col("sup_token"))
            & (
                F.array_contains("sup_rules", F.lit(ALL_RULES))
                | F.array_contains("sup_rules", F.col("rule_id"))
            )
            & F.to_date("event_ts").between(F.col("sup_from"), F.col("sup_to"))
        )
        matched_df = (
            hits_df.select("hit_id", "rule_id", "subject_token", "event_ts")
            .join(F.broadcast(entries_df), on=matches, how="inner")
            .groupBy("hit_id")
            .agg(F.min("sup_id").alias("suppression_id"))
        )
        return hits_df.join(matched_df, on="hit_id", how="left").withColumn(
            "is_suppressed", F.col("suppression_id").isNotNull()
        )


def path(config: Config) -> Path:
    relative = config.data.get("gold", {}).get("suppressions", DEFAULT_FILE)
    return config.root / "conf" / relative


def parse(document: dict[str, Any], source: str = "suppressions") -> AllowList:
    unknown = set(document) - {"suppression"}
    if unknown:
        raise ConfigError(f"{source}: unknown keys {sorted(unknown)} (entries are [[suppression]])")
    raw_entries = document.get("suppression", [])
    if not isinstance(raw_entries, list):
        raise ConfigError(f"{source}: write each entry as [[suppression]], not [suppression]")
    entries = tuple(_entry(raw, source) for raw in raw_entries)
    ids = [e.id for e in entries]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"{source}: duplicate suppression ids {sorted(ids)}")
    return AllowList(entries)


def load(config: Config) -> AllowList:
    """The allow-list of the environment; an absent file is an empty list."""
    file = path(config)
    if not file.exists():
        return AllowList()
    try:
        with file.open("rb") as fh:
            document = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    return parse(document, str(file))


def audit(
    spark: SparkSession, config: Config, run_id: str, allow_list: AllowList, hits_df: DataFrame
) -> None:
    """One ``ops.suppression_audit`` row per entry: the hits of ``hits_df`` it suppressed."""
    from aml.ops import append_rows, utcnow

    if not allow_list.entries:
        return
    counts = {
        row["suppression_id"]: int(row["n"])
        for row in hits_df.where(F.col("is_suppressed"))
        .groupBy("suppression_id")
        .agg(F.count("*").alias("n"))
        .collect()
    }
    now = utcnow()
    rows = [
        {
            "run_id": run_id,
            "suppression_id": e.id,
            "owner": e.owner,
            "reason": e.reason,
            "rules": ",".join(e.rules),
            "valid_from": e.valid_from,
            "expires": e.expires,
            "hits_suppressed": counts.get(e.id, 0),
            "recorded_at": now,
        }
        for e in allow_list.entries
    ]
    append_rows(spark, config.table_path("ops", "suppression_audit"), AUDIT_SCHEMA, rows)
