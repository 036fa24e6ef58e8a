"""The rule pack as data: ``conf/rules/rule_pack_v*.toml`` loaded, checked and hashed.

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
from pathlib import Path
from typing import Any

from aml.config import Config, ConfigError

SEVERITIES = ("LOW", "MEDIUM", "HIGH", "CRITICAL")
SUBJECT_ROLES = ("sender", "receiver")
DEFAULT_PACK = "rules/rule_pack_v2.toml"
PACK_NAMES = {"v1": "rules/rule_pack_v1.toml", "v2": "rules/rule_pack_v2.toml"}


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
class Scoring:
    """How a v2 pack turns scored hits into alerts (``[scoring]``; absent in v1).

    Attributes:
        period: the alert period, ``week`` (ISO week, Monday 00:00 UTC) or ``day``.
        alert_threshold: the period score at which a subject is alerted.
        severity_floors: base severity -> the lowest period score that gives it.
    """

    period: str
    alert_threshold: int
    severity_floors: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class RulePack:
    name: str
    version: str
    rules: tuple[Rule, ...]
    scoring: Scoring | None = None

    @property
    def is_scored(self) -> bool:
        """Scored packs consolidate hits into one alert per subject and period."""
        return self.scoring is not None

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


PERIODS = ("week", "day")


def _scoring(section: dict[str, Any] | None, rules: tuple[Rule, ...]) -> Scoring | None:
    if section is None:
        return None
    period = section.get("period", "week")
    if period not in PERIODS:
        raise ConfigError(f"scoring: period {period!r} not in {PERIODS}")
    threshold = section.get("alert_threshold")
    if not isinstance(threshold, int) or isinstance(threshold, bool) or threshold <= 0:
        raise ConfigError(f"scoring: alert_threshold must be a positive integer, got {threshold!r}")
    floors = section.get("severity_floors", {})
    unknown = set(floors) - set(SEVERITIES)
    if unknown or not floors:
        raise ConfigError(f"scoring: severity_floors needs severities from {SEVERITIES}")
    ordered = tuple(sorted(((k, int(v)) for k, v in floors.items()), key=lambda kv: kv[1]))
    if [SEVERITIES.index(k) for k, _ in ordered] != sorted(SEVERITIES.index(k) for k in floors):
        raise ConfigError("scoring: severity floors must rise with the severity")
    if ordered[0][1] > threshold:
        raise ConfigError("scoring: the lowest severity floor must not exceed alert_threshold")
    for rule in rules:
        score = rule.param("score")
        if score is None or int(score) != score or score <= 0:
            raise ConfigError(f"rule {rule.id}: a scored pack needs a positive whole `score`")
    return Scoring(period=period, alert_threshold=threshold, severity_floors=ordered)


def parse(document: dict[str, Any]) -> RulePack:
    rules = tuple(_rule(entry) for entry in document.get("rule", ()))
    ids = [rule.id for rule in rules]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"rule pack has duplicate rule ids: {ids}")
    return RulePack(
        name=document.get("name", "rules"),
        version=str(document["version"]),
        rules=rules,
        scoring=_scoring(document.get("scoring"), rules),
    )


def load(config: Config, relative: str | None = None) -> RulePack:
    """The rule pack named by ``[gold] rule_pack`` in the environment (default: v2).

    ``relative`` is a path under ``conf/`` or a short name (``v1``, ``v2``); a path that is not
    under ``conf/`` (an absolute one: a candidate pack under review) is read as it is. A pack
    with ``extends = "<pack>"`` is that pack with its own top-level settings and sections on top
    and its rules added, a rule with an id the base has replacing the base's whole: a candidate
    states only what it changes.
    """
    relative = relative or config.data.get("gold", {}).get("rule_pack", DEFAULT_PACK)
    return parse(_document(config, relative, ()))


def _document(config: Config, relative: str, seen: tuple[Path, ...]) -> dict[str, Any]:
    path = config.root / "conf" / PACK_NAMES.get(relative, relative)
    if not path.exists():
        raise ConfigError(f"rule pack {path} not found")
    if path in seen:
        raise ConfigError(f"rule pack {path} extends itself: {' -> '.join(map(str, seen))}")
    with path.open("rb") as fh:
        document = tomllib.load(fh)
    base = document.pop("extends", None)
    if base is None:
        return document
    parent = _document(config, str(base), (*seen, path))
    own = {rule.get("id"): rule for rule in document.get("rule", ())}
    rules = [own.pop(rule.get("id"), rule) for rule in parent.get("rule", ())]
    return {**parent, **document, "rule": [*rules, *own.values()]}


def fingerprint(pack: RulePack, extra: str = "") -> str:
    """What gold was built with: the pack's rules, their hashes, the scoring and ``extra`` (the
    allow-list's fingerprint). A change makes the next gold run a full rebuild."""
    canonical = json.dumps(
        {
            "name": pack.name,
            "version": pack.version,
            "rules": [[r.id, r.param_hash, r.enabled, r.severity] for r in pack.rules],
            "scoring": None
            if pack.scoring is None
            else [pack.scoring.period, pack.scoring.alert_threshold, pack.scoring.severity_floors],
            "extra": extra,
        },
        sort_keys=True,
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


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
