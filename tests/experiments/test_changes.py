from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from experiments import ConfigError, experiment_document, parse_config
from experiments.changes import apply_patch, diff, new_experiment, plan_patch, same

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def stored(**changes: Any) -> dict[str, Any]:
    """An experiment as the config service stores it: canonical, with ranges."""
    doc = {"key": "exp", "status": "active", "coverage": 20,
           "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}], **changes}
    config, problems = parse_config({"experiments": [doc]})
    assert problems == []
    return experiment_document(config.experiments[0])


def refused(current: dict[str, Any], patch: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        apply_patch(current, patch, NOW)
    return [str(problem) for problem in raised.value.problems]


@pytest.mark.parametrize(
    ("start", "target", "allowed"),
    [("draft", "active", True), ("active", "paused", True), ("paused", "active", True),
     ("active", "concluded", True), ("paused", "concluded", True), ("draft", "paused", False),
     ("concluded", "active", False), ("active", "draft", False)],
)
def test_status_transitions(start: str, target: str, allowed: bool) -> None:
    current = stored(status=start)
    if allowed:
        assert apply_patch(current, {"status": target}, NOW).document["status"] == target
    else:
        assert any("status" in line or "concluded" in line for line in
                   refused(current, {"status": target}))


def test_activation_starts_phase_one_now() -> None:
    result = apply_patch(stored(status="draft"), {"status": "active"}, NOW)
    assert result.document["phases"] == [{"number": 1, "started_at": NOW.isoformat(),
                                          "weights": {"a": 50.0, "b": 50.0}, "coverage": 20.0}]
    assert result.document["version"] == 2


def test_ramping_up_moves_nobody_and_keeps_the_phase() -> None:
    result = apply_patch(stored(), {"coverage": 80}, NOW)
    assert result.buckets_moved == 0
    assert result.summary()["new_phase"] is False
    assert result.summary()["moves"]["a"]["enrolled"] == 3000
    assert "ranges.a" in result.diff and "coverage" in result.diff


def test_reweighting_opens_a_phase_and_says_who_moves() -> None:
    current = stored(coverage=100)
    result = apply_patch(current, {"variants": [{"key": "a", "weight": 30},
                                                {"key": "b", "weight": 70}]}, NOW)
    summary = result.summary()
    assert summary["users_moved_percent"] == 20.0 and summary["new_phase"] is True
    assert [p["number"] for p in result.document["phases"]] == [1, 2]


def test_measurement_fields_only_change_in_draft() -> None:
    problems = refused(stored(), {"metrics": [], "salt": "new", "ranges": {}, "colour": "red"})
    assert "experiment 'exp': metrics: can only change while the experiment is a draft" in problems
    assert "experiment 'exp': salt: can only change while the experiment is a draft" in problems
    assert "experiment 'exp': ranges: is computed and cannot be changed" in problems
    assert "experiment 'exp': colour: unknown field" in problems
    draft = apply_patch(stored(status="draft"), {"salt": "new"}, NOW)
    assert draft.document["salt"] == "new"


def test_a_concluded_experiment_is_final() -> None:
    assert refused(stored(status="concluded"), {"coverage": 50}) == [
        "experiment 'exp': coverage: a concluded experiment cannot change"
    ]


def test_new_experiments_are_drafts_without_computed_fields() -> None:
    assert new_experiment({"key": "x", "variants": []})["status"] == "draft"
    with pytest.raises(ConfigError) as raised:
        new_experiment({"key": "x", "status": "active", "ranges": {}, "version": 4})
    reasons = [str(p) for p in raised.value.problems]
    assert any("ranges: is computed" in r for r in reasons)
    assert any("version: is computed" in r for r in reasons)
    assert any("a new experiment is a draft" in r for r in reasons)


def test_diff_and_plan_patch() -> None:
    before = {"a": 1, "b": {"c": [1, 2], "d": "x"}}
    after = {"a": 1, "b": {"c": [1, 3]}, "e": None}
    assert diff(before, after) == {"b.c": [[1, 2], [1, 3]], "b.d": ["x", None]}
    current = stored()
    assert plan_patch(current, {"key": "exp", "coverage": 20.0, "version": 9}) == {}
    assert plan_patch(current, {"coverage": 30}) == {"coverage": 30}
    assert same({"w": 50}, {"w": 50.0}) and not same([1], [2])
