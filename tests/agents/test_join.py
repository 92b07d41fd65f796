"""The join's per-message logic, driven directly with in-memory tables."""

from __future__ import annotations

from typing import Any

from agents.join import JoinProcessor
from experiments import parse_config
from experiments.attribution import ExperimentRules
from schemas import decode, encode
from topology.topics import TopicNames

NAMES = TopicNames("t")
T0 = 1_795_000_000_000


def experiments() -> dict[str, ExperimentRules]:
    config, problems = parse_config({"experiments": [{
        "key": "exp", "status": "active",
        "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "n", "kind": "count", "event": "purchase"}]}]})
    assert problems == []
    return {"exp": ExperimentRules.of(config.experiments[0])}


def processor(users: dict | None = None, seen: dict | None = None) -> JoinProcessor:
    return JoinProcessor({} if users is None else users, {} if seen is None else seen, NAMES,
                         experiments)


def exposure(event_id: str = "x1", time: int = T0) -> bytes:
    return encode("exposure", {"event_id": event_id, "user_id": "u1", "experiment": "exp",
                               "variant": "b", "phase": 1, "config_version": 1,
                               "timestamp": time, "received_at": time, "attributes": {},
                               "source": "", "override": False})


def goal(event_id: str, time: int = T0 + 1000) -> bytes:
    return encode("goal_event", {"event_id": event_id, "user_id": "u1", "name": "purchase",
                                 "value": 2.0, "timestamp": time, "received_at": time,
                                 "attributes": {}})


def facts(outcome: Any) -> list[dict[str, Any]]:
    return [decode("fact", value) for _, value in outcome.facts]


def test_exposure_then_goals_then_a_duplicate() -> None:
    join = processor()
    assert facts(join.process(NAMES.exposures, 0, 0, b"u1", exposure()))[0]["values"] == {"n": 0.0}
    assert facts(join.process(NAMES.events, 0, 0, b"u1", goal("g1")))[0]["values"] == {"n": 1.0}
    duplicate = join.process(NAMES.events, 0, 1, b"u1", goal("g1"))
    assert duplicate.facts == [] and duplicate.dead_letters == []
    last = facts(join.process(NAMES.events, 0, 2, b"u1", goal("g2")))[0]
    assert last["values"] == {"n": 2.0} and last["version"] == 3


def test_a_replayed_message_re_emits_facts_without_applying_twice() -> None:
    users: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    join = processor(users, seen)
    join.process(NAMES.exposures, 0, 0, b"u1", exposure())
    join.process(NAMES.events, 0, 7, b"u1", goal("g1"))
    restarted = processor(users, seen)  # a new worker on the same stores
    again = facts(restarted.process(NAMES.events, 0, 7, b"u1", goal("g1")))
    assert again[0]["values"] == {"n": 1.0} and again[0]["version"] == 2


def test_a_crash_between_dedup_and_state_loses_nothing() -> None:
    users: dict[str, Any] = {}
    seen: dict[str, Any] = {}
    processor(users, seen).process(NAMES.exposures, 0, 0, b"u1", exposure())
    seen["g1"] = [T0 + 1000, f"{NAMES.events}/0@5"]  # recorded, but the user was not saved
    outcome = processor(users, seen).process(NAMES.events, 0, 5, b"u1", goal("g1"))
    assert facts(outcome)[0]["values"] == {"n": 1.0}


def test_undecodable_input_is_dead_lettered_with_its_reason() -> None:
    outcome = processor().process(NAMES.events, 0, 0, b"u1", b"\x00\x00\x00\x00\x02garbage")
    ((key, payload, reason),) = outcome.dead_letters
    assert key == b"u1" and payload.endswith(b"garbage") and "cannot decode" in reason


def test_events_older_than_the_retention_are_dead_lettered() -> None:
    join = processor()
    join.process(NAMES.exposures, 0, 0, b"u1", exposure(time=T0 + 30 * 86_400_000))
    outcome = join.process(NAMES.events, 0, 1, b"u1", goal("old", time=T0))
    assert "cannot be deduplicated" in outcome.dead_letters[0][2]
