from __future__ import annotations

from typing import Any

import pytest

from experiments import ConfigSnapshot, assign, parse_config
from experiments.exposures import disagrees, unknown_reason


@pytest.fixture
def snapshot() -> ConfigSnapshot:
    config, problems = parse_config({"experiments": [
        {"key": "x", "status": "active", "phases": [{"number": 1}, {"number": 2}],
         "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
         "overrides": {"qa": "b"}},
        {"key": "p", "status": "paused",
         "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]},
    ]})
    assert problems == []
    return ConfigSnapshot.build(config, 3)


def exposure(**changes: Any) -> dict[str, Any]:
    return {"user_id": "u1", "experiment": "x", "variant": "a", "phase": 2,
            "attributes": {}, "override": False, **changes}


@pytest.mark.parametrize(("changes", "reason"), [
    ({"experiment": "nope"}, "unknown experiment: 'nope'"),
    ({"variant": "c"}, "unknown variant: 'c' is not a variant of 'x'"),
    ({"phase": 3}, "unknown phase: phase 3 is not a phase of 'x' (its current phase is 2)"),
])
def test_names_that_do_not_exist_are_refused(
    snapshot: ConfigSnapshot, changes: dict[str, Any], reason: str
) -> None:
    assert unknown_reason(snapshot, exposure(**changes)) == reason


def test_known_names_and_earlier_phases_are_accepted(snapshot: ConfigSnapshot) -> None:
    assert unknown_reason(snapshot, exposure()) is None
    assert unknown_reason(snapshot, exposure(phase=1, variant="b")) is None


def test_only_a_current_assigned_exposure_can_disagree(snapshot: ConfigSnapshot) -> None:
    users = [f"u{i}" for i in range(40)]
    given = {u: assign(snapshot, "x", u).variant for u in users}
    other = {"a": "b", "b": "a"}
    assert not any(disagrees(snapshot, exposure(user_id=u, variant=given[u])) for u in users)
    assert all(disagrees(snapshot, exposure(user_id=u, variant=other[given[u]])) for u in users)
    u = users[0]
    wrong = other[given[u]]
    assert not disagrees(snapshot, exposure(user_id=u, variant=wrong, phase=1))
    assert not disagrees(snapshot, exposure(user_id=u, variant=wrong, override=True))
    assert not disagrees(snapshot, exposure(user_id="qa", variant="b"))
    assert not disagrees(snapshot, exposure(experiment="p", user_id=u, variant="b", phase=1))
    assert not disagrees(snapshot, exposure(user_id=u, variant="c"))
