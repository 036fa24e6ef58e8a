"""The rule pack as data: ``conf/rules/rule_pack_v1.toml`` loaded, checked and hashed.

A rule is a kind (the SQL template in :mod:`aml.gold.rules`) plus parameters. Every hit records
the rule's version and a hash of its parameters, so a reviewer can tell which settings produced
an alert, and a retuned threshold never passes for the old one.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from aml.config import Config, ConfigError

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
SUBJECT_ROLES = ("sender", "receiver")
DEFAULT_PACK = "rules/rule_pack_v1.toml"


@dataclass(frozen=True)
class Rule:
    """One rule of the pack.

    Attributes:
        id: stable identifier (``R03``), part of ``alert_id``.
        name: readable name (``STRUCTURING``).
        kind: the SQL template that implements it.
        version: bumped whenever the meaning changes.
        severity: base severity; some kinds raise it per hit (R01, R02).
        enabled: disabled rules are loaded (and hashed) but not evaluated.
        params: thresholds and windows; numbers are kept as ``Decimal`` for exact comparisons.
        typologies: SAML-D laundering types it is meant to catch (for ``aml evaluate`` only).
        description: one line for narratives and the rule catalogue.
    """

    id: str
    name: str
    kind: str
    version: int
    severity: str
    enabled: bool
    params: dict[str, Any]
    typologies: tuple[str, ...] = ()
    description: str = ""
    param_hash: str = field(default="", compare=False)

    def param(self, name: str, default: Any = None) -> Any:
        return self.params.get(name, default)

    def seconds(self, name: str) -> int:
        return int(self.params[name])


@dataclass(frozen=True)
class RulePack:
    name: str
    version: str
    rules: tuple[Rule, ...]

    @property
    def enabled(self) -> tuple[Rule, ...]:
        return tuple(rule for rule in self.rules if rule.enabled)

    def rule(self, rule_id: str) -> Rule:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        raise KeyError(rule_id)


def _number(value: Any) -> Any:
    """TOML numbers as exact decimals (0.85 must stay 0.85, not 0.8499999...)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return value
    return Decimal(str(value))


def param_hash(rule_id: str, version: int, kind: str, params: dict[str, Any]) -> str:
    """First 16 hex chars of sha256 over the canonical JSON of what defines a rule's behaviour."""
    canonical = json.dumps(
        {"id": rule_id, "version": version, "kind": kind, "params": params},
        sort_keys=True,
        separators=(",", ":"),
        default=str,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


def _rule(entry: dict[str, Any]) -> Rule:
    missing = {"id", "name", "kind", "version", "severity"} - entry.keys()
    if missing:
        raise ConfigError(f"rule {entry.get('id', '?')}: missing {sorted(missing)}")
    if entry["severity"] not in SEVERITIES:
        raise ConfigError(f"rule {entry['id']}: severity {entry['severity']!r} not in {SEVERITIES}")
    params = {key: _number(value) for key, value in entry.get("params", {}).items()}
    subject = params.get("subject")
    if subject is not None and subject not in SUBJECT_ROLES:
        raise ConfigError(f"rule {entry['id']}: subject {subject!r} not in {SUBJECT_ROLES}")
    version = int(entry["version"])
    return Rule(
        id=entry["id"],
        name=entry["name"],
        kind=entry["kind"],
        version=version,
        severity=entry["severity"],
        enabled=bool(entry.get("enabled", True)),
        params=params,
        typologies=tuple(entry.get("typologies", ())),
        description=entry.get("description", ""),
        param_hash=param_hash(entry["id"], version, entry["kind"], params),
    )


def parse(document: dict[str, Any]) -> RulePack:
    rules = tuple(_rule(entry) for entry in document.get("rule", ()))
    ids = [rule.id for rule in rules]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"rule pack has duplicate rule ids: {ids}")
    return RulePack(
        name=document.get("name", "rules"), version=str(document["version"]), rules=rules
    )


def load(config: Config, relative: str | None = None) -> RulePack:
    """The rule pack named by ``[gold] rule_pack`` in the environment (default: v1)."""
    relative = relative or config.data.get("gold", {}).get("rule_pack", DEFAULT_PACK)
    path = config.root / "conf" / relative
    if not path.exists():
        raise ConfigError(f"rule pack {path} not found")
    with path.open("rb") as fh:
        return parse(tomllib.load(fh))


def with_params(rule: Rule, **changes: Any) -> Rule:
    """A copy of ``rule`` with some parameters changed and its hash recomputed (what-if sweeps)."""
    params = {**rule.params, **{k: _number(v) for k, v in changes.items()}}
    return Rule(
        id=rule.id,
        name=rule.name,
        kind=rule.kind,
        version=rule.version,
        severity=rule.severity,
        enabled=rule.enabled,
        params=params,
        typologies=rule.typologies,
        description=rule.description,
        param_hash=param_hash(rule.id, rule.version, rule.kind, params),
    )
