"""Bad input that must be refused as such: invalid Unicode, oversized fields, deep nesting."""

from __future__ import annotations

from typing import Any

import pytest

from experiments import ConfigSnapshot, ExperimentClient, assign, parse_config
from experiments.exposures import exposure_event
from schemas import decode, encode
from schemas.events import (
    EventLimits,
    InvalidEvent,
    check_exposure,
    check_goal,
    too_deep,
    valid_text,
)

NOW = 1_795_000_000_000
LONE = "x\ud800"


def goal(**changes: Any) -> dict[str, Any]:
    return {"user_id": "u", "name": "purchase", **changes}


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (goal(user_id=LONE), "user_id: not valid Unicode"),
        (goal(name="\udfff"), "name: not valid Unicode"),
        (goal(event_id="e\ud83d"), "event_id: not valid Unicode"),
        (goal(attributes={"country": LONE}), "attributes.country: not valid Unicode"),
        (goal(attributes={LONE: "US"}), r"attributes\.x\\ud800: not valid Unicode"),
        (goal(user_id="u" * (1024 * 1024)), "user_id: longer than 256 characters"),
        (goal(name="n" * 257), "name: longer than 256 characters"),
        (goal(attributes={"a": "v" * 1025}), "attributes.a: longer than 1024 characters"),
        (goal(attributes={"k" * 257: "v"}), "attributes: a name is longer than 256"),
    ],
)
def test_strings_that_are_not_valid_unicode_or_too_long_are_refused(
    raw: dict[str, Any], reason: str
) -> None:
    with pytest.raises(InvalidEvent, match=reason) as caught:
        check_goal(raw, NOW)
    str(caught.value).encode()  # the reason itself is always valid Unicode, and short
    assert len(str(caught.value)) < 200


def test_exposure_strings_are_checked_too() -> None:
    for field in ("experiment", "variant", "source"):
        raw = {"user_id": "u", "experiment": "x", "variant": "a", field: LONE}
        with pytest.raises(InvalidEvent, match=f"{field}: not valid Unicode"):
            check_exposure(raw, NOW)


def test_the_limits_at_the_edge_are_accepted() -> None:
    raw = goal(user_id="u" * 256, attributes={f"k{i}": "é" * 1024 for i in range(64)})
    checked = check_goal(raw, NOW)
    assert len(checked["attributes"]) == 64
    assert decode("goal_event", encode("goal_event", checked)) == checked


def test_valid_text() -> None:
    assert valid_text("plain") and valid_text("déjà vu 🎲") and valid_text("")
    assert not valid_text("a\ud800b") and not valid_text("\udc00")


def test_nesting_is_bounded_without_recursion() -> None:
    deep: Any = "leaf"
    for _ in range(100_000):
        deep = [deep]
    assert too_deep(deep, 32)
    assert not too_deep({"events": [{"attributes": {"a": [1, {"b": 2}]}}]}, 6)
    assert too_deep({"events": [{"attributes": {"a": [1, {"b": 2}]}}]}, 5)


def test_one_builder_gives_exposures_that_pass_the_check() -> None:
    exposure = exposure_event(
        event_id="e1", user_id="u1", experiment="x", variant="b", phase=2, config_version=7,
        timestamp=NOW, attributes={"pro": True, "n": 3}, source="sdk")
    assert exposure["attributes"] == {"pro": "true", "n": "3"}
    assert exposure["received_at"] == NOW and exposure["override"] is False
    assert check_exposure(exposure, NOW, EventLimits()) == exposure


def test_the_sdk_and_the_intake_write_attributes_alike() -> None:
    config, _ = parse_config({"experiments": [{
        "key": "x", "status": "active", "coverage": 100,
        "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]}]})
    snapshot = ConfigSnapshot.build(config)
    attributes = {"pro": True, "beta": False, "n": 3, "country": "US"}
    found = assign(snapshot, "x", "u1", attributes)
    assert found is not None
    record = ExperimentClient(snapshot).new_exposure("u1", found, attributes)
    assert record is not None
    checked = check_exposure({"user_id": "u1", "experiment": "x", "variant": "a",
                              "attributes": attributes}, NOW)
    assert record.attributes == checked["attributes"] == {
        "pro": "true", "beta": "false", "n": "3", "country": "US"}
