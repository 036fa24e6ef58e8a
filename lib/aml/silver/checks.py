"""Cleansing checks as named data (``conf/checks/<table>.toml``) and the one function that splits
good rows from quarantined ones.

Each check is a SQL predicate that is TRUE for a bad row, with a reason code, a description and a
criticality: ``error`` sends the row to quarantine, ``warn`` keeps it and records the code. All
predicates are evaluated in one projection, so adding a check costs an expression, not a pass.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from aml.config import Config, ConfigError

CRITICALITIES = ("error", "warn")


@dataclass(frozen=True)
class Check:
    code: str
    description: str
    criticality: str
    predicate: str


@dataclass(frozen=True)
class CheckSuite:
    """The checks of one table, with the file's version (recorded on every row they judged)."""

    table: str
    version: int
    max_field_length: int
    checks: tuple[Check, ...]

    def codes(self, criticality: str) -> list[str]:
        return [c.code for c in self.checks if c.criticality == criticality]


def load_checks(config: Config, table: str = "transactions") -> CheckSuite:
    path = config.root / "conf" / "checks" / f"{table}.toml"
    with path.open("rb") as fh:
        data = tomllib.load(fh)
    checks = tuple(Check(**c) for c in data.get("check", []))
    bad = [c.code for c in checks if c.criticality not in CRITICALITIES]
    if bad or not checks:
        raise ConfigError(f"{path}: checks {bad} need a criticality in {CRITICALITIES}")
    return CheckSuite(table, int(data["version"]), int(data["max_field_length"]), checks)


def combine(suites: list[CheckSuite]) -> CheckSuite:
    """Several suites judged as one, in order (the first failing code is ``reason_code``).

    The last suite names the table and gives the version and field length: the streaming job
    puts the envelope checks of its messages before the transaction checks.
    """
    last = suites[-1]
    checks = tuple(c for suite in suites for c in suite.checks)
    return CheckSuite(last.table, last.version, last.max_field_length, checks)


def _failing(checks: list[Check]) -> Column:
    """Array of the codes of ``checks`` whose predicate is TRUE (NULL counts as passing)."""
    flagged = [F.when(F.coalesce(F.expr(c.predicate), F.lit(False)), F.lit(c.code)) for c in checks]
    if not flagged:
        return F.array().cast("array<string>")
    return F.filter(F.array(*flagged), lambda code: code.isNotNull())


def split_by_checks(df: DataFrame, suite: CheckSuite) -> tuple[DataFrame, DataFrame]:
    """Splits ``df`` into (good rows with ``warnings``, bad rows with ``reason_code``/``reasons``).

    Every input row lands in exactly one of the two outputs.
    """
    errors = [c for c in suite.checks if c.criticality == "error"]
    warns = [c for c in suite.checks if c.criticality == "warn"]
    judged_df = df.withColumns({"reasons": _failing(errors), "warnings": _failing(warns)})
    is_bad = F.size("reasons") > 0
    good_df = judged_df.where(~is_bad).drop("reasons")
    bad_df = judged_df.where(is_bad).withColumn("reason_code", F.col("reasons")[0])
    return good_df, bad_df.drop("warnings")
