"""Loading rule packs: a candidate that extends a published pack states only what it changes."""

from __future__ import annotations

import pytest

from aml.config import ConfigError, load_config
from aml.gold import rulepack


def test_the_baselines_candidate_is_v2_with_two_rules_added():
    config = load_config("local")
    v2 = rulepack.load(config, "v2")
    candidate = rulepack.load(config, "rules/candidates/v2_baselines.toml")
    assert [r.id for r in candidate.rules] == [*(r.id for r in v2.rules), "R25", "R26"]
    assert candidate.rules[: len(v2.rules)] == v2.rules
    assert candidate.scoring == v2.scoring and candidate.name == v2.name
    assert candidate.version == "2-baselines"
    assert {r.kind for r in candidate.rules[-2:]} == {"peer_amount_outlier", "dormant_wakeup"}


def _write(path, text: str):
    path.write_text(text, encoding="utf-8")
    return str(path)


def test_a_rule_with_a_base_id_replaces_it_and_sections_come_from_the_child(tmp_path):
    config = load_config("local")
    child = _write(
        tmp_path / "child.toml",
        'extends = "v2"\nversion = "tuned"\n[scoring]\nperiod = "day"\nalert_threshold = 120\n'
        "severity_floors = { MEDIUM = 120, HIGH = 150 }\n"
        '[[rule]]\nid = "R10"\nname = "STRUCTURING"\nkind = "trailing_window"\nversion = 2\n'
        'severity = "HIGH"\n[rule.params]\nscore = 100\nsubject = "receiver"\nmin_amount = 8500\n'
        "max_amount_lt = 10000\nmin_count = 3\nwindow_seconds = 259200\n",
    )
    v2 = rulepack.load(config, "v2")
    tuned = rulepack.load(config, child)
    assert [r.id for r in tuned.rules] == [r.id for r in v2.rules]
    r10 = tuned.rules[0]
    assert r10.version == 2 and r10.param("min_amount") == 8500 and r10.typologies == ()
    assert tuned.rules[1:] == v2.rules[1:]
    assert (tuned.scoring.period, tuned.scoring.alert_threshold) == ("day", 120)


def test_a_missing_base_or_a_cycle_is_a_clear_error(tmp_path):
    config = load_config("local")
    with pytest.raises(ConfigError, match="not found"):
        rulepack.load(config, _write(tmp_path / "a.toml", 'extends = "rules/none.toml"\n'))
    a, b = tmp_path / "a.toml", tmp_path / "b.toml"
    _write(a, f'extends = "{b}"\nversion = "a"\n')
    _write(b, f'extends = "{a}"\nversion = "b"\n')
    with pytest.raises(ConfigError, match="extends itself"):
        rulepack.load(config, str(a))
