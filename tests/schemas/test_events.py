from __future__ import annotations

from typing import Any

import pytest

from schemas import decode, encode
from schemas.events import EventLimits, InvalidEvent, check_exposure, check_goal

NOW = 1_795_000_000_000


def test_a_minimal_goal_gets_defaults() -> None:
    goal = check_goal({"user_id": "u1", "name": "purchase"}, NOW)
    assert goal["timestamp"] == goal["received_at"] == NOW
    assert goal["value"] is None and goal["attributes"] == {}
    assert len(goal["event_id"]) == 36
    assert decode("goal_event", encode("goal_event", goal)) == goal


def test_a_full_exposure_is_kept() -> None:
    raw = {"event_id": "e1", "user_id": "u1", "experiment": "x", "variant": "b", "phase": 2,
           "config_version": 7, "timestamp": NOW - 5000, "attributes": {"n": 3, "ok": True},
           "source": "ios", "override": True}
    exposure = check_exposure(raw, NOW)
    assert exposure["timestamp"] == NOW - 5000
    assert exposure["attributes"] == {"n": "3", "ok": "true"}
    assert exposure["override"] is True and exposure["phase"] == 2
    assert decode("exposure", encode("exposure", exposure)) == exposure


def test_clock_skew_is_clamped_then_refused() -> None:
    limits = EventLimits(max_future_skew_ms=60_000)
    assert check_goal({"user_id": "u", "name": "n", "timestamp": NOW + 59_000}, NOW,
                      limits)["timestamp"] == NOW
    with pytest.raises(InvalidEvent, match="timestamp: 61 s in the future"):
        check_goal({"user_id": "u", "name": "n", "timestamp": NOW + 61_000}, NOW, limits)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("purchase", "must be a JSON object, not a string"),
        ({"name": "purchase"}, "user_id: is required"),
        ({"user_id": "", "name": "purchase"}, "user_id: must not be empty"),
        ({"user_id": 7, "name": "purchase"}, "user_id: must be a string, not a number"),
        ({"user_id": "u", "name": "x" * 600}, "name: longer than 256 characters"),
        ({"user_id": "u", "name": "n", "value": "12"}, "value: must be a number, not a string"),
        ({"user_id": "u", "name": "n", "value": float("nan")}, "value: must be a finite number"),
        ({"user_id": "u", "name": "n", "timestamp": "today"}, "timestamp: must be an integer"),
        ({"user_id": "u", "name": "n", "timestamp": -5}, "timestamp: must be 0 or more"),
        ({"user_id": "u", "name": "n", "attributes": [1]}, "attributes: must be an object"),
        ({"user_id": "u", "name": "n", "attributes": {"a": {"b": 1}}}, "attributes.a: must be"),
        ({"user_id": "u", "name": "n", "attributes": {str(i): i for i in range(65)}},
         "attributes: more than 64"),
    ],
)
def test_invalid_goals_say_which_field_and_why(raw: Any, reason: str) -> None:
    with pytest.raises(InvalidEvent, match=reason):
        check_goal(raw, NOW)


@pytest.mark.parametrize(
    ("changes", "reason"),
    [({"variant": None}, "variant: is required"), ({"phase": 0}, "phase: must be 1 or more"),
     ({"phase": 2**62}, "phase: must be between 1 and 2147483647"),
     ({"phase": True}, "phase: must be an integer"), ({"override": "yes"}, "override: must be")],
)
def test_invalid_exposures(changes: dict[str, Any], reason: str) -> None:
    raw = {"user_id": "u", "experiment": "x", "variant": "a", **changes}
    with pytest.raises(InvalidEvent, match=reason):
        check_exposure(raw, NOW)
