"""The join's per-message logic, driven directly with in-memory tables."""

from __future__ import annotations

from typing import Any

from agents.join import JoinProcessor
from experiments import ConfigSnapshot, parse_config
from experiments.attribution import ExperimentRules
from experiments.exposures import exposure_event
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


class Join:
    """A processor over an in-memory table, storing what each batch asks to store."""

    def __init__(self, users: dict[str, Any] | None = None) -> None:
        self.users = {} if users is None else users
        self.processor = JoinProcessor(lambda user_id, _: self.users.get(user_id), NAMES,
                                       experiments)

    def run(self, *messages: tuple[str, int, bytes]) -> Any:
        """One batch of (topic, offset, value) messages of partition 0."""
        outcome = self.processor.process(
            [(topic, 0, offset, b"u1", value) for topic, offset, value in messages])
        for user_id, (_, state) in outcome.users.items():
            self.users[user_id] = state
        return outcome


def exposure(event_id: str = "x1", time: int = T0) -> bytes:
    return encode("exposure", exposure_event(
        event_id=event_id, user_id="u1", experiment="exp", variant="b", phase=1,
        config_version=1, timestamp=time, attributes={}, source=""))


def goal(event_id: str, time: int = T0 + 1000) -> bytes:
    return encode("goal_event", {"event_id": event_id, "user_id": "u1", "name": "purchase",
                                 "value": 2.0, "timestamp": time, "received_at": time,
                                 "attributes": {}})


def facts(outcome: Any) -> list[dict[str, Any]]:
    return [decode("fact", value) for _, value in outcome.facts]


def test_exposure_then_goals_then_a_duplicate() -> None:
    join = Join()
    assert facts(join.run((NAMES.exposures, 0, exposure())))[0]["values"] == {"n": 0.0}
    assert facts(join.run((NAMES.events, 0, goal("g1"))))[0]["values"] == {"n": 1.0}
    duplicate = join.run((NAMES.events, 1, goal("g1")))
    assert facts(duplicate)[0]["values"] == {"n": 1.0} and duplicate.dead_letters == []
    last = facts(join.run((NAMES.events, 2, goal("g2"))))[0]
    assert last["values"] == {"n": 2.0} and last["version"] == 3


def test_a_batch_stores_and_emits_each_user_once() -> None:
    join = Join()
    outcome = join.run((NAMES.exposures, 0, exposure()), (NAMES.events, 0, goal("g1")),
                       (NAMES.events, 1, goal("g1")), (NAMES.events, 2, goal("g2")))
    assert list(outcome.users) == ["u1"]
    assert outcome.users["u1"][0] == 3  # stored with its last message
    (fact,) = facts(outcome)
    assert fact["values"] == {"n": 2.0} and fact["version"] == 3


def test_a_replayed_message_re_emits_facts_without_applying_twice() -> None:
    join = Join()
    join.run((NAMES.exposures, 0, exposure()), (NAMES.events, 7, goal("g1")))
    restarted = Join(join.users)  # a new worker on the same store
    again = restarted.run((NAMES.events, 7, goal("g1")))
    assert again.users == {}  # nothing changed, nothing to store
    assert facts(again)[0]["values"] == {"n": 1.0} and facts(again)[0]["version"] == 2


def test_a_duplicate_under_a_new_offset_is_not_a_replay() -> None:
    join = Join()
    join.run((NAMES.exposures, 0, exposure()), (NAMES.events, 7, goal("g1")))
    outcome = Join(join.users).run((NAMES.events, 8, goal("g1")))  # the producer sent it twice
    assert facts(outcome)[0]["values"] == {"n": 1.0}
    assert join.users["u1"]["offsets"][f"{NAMES.events}/0"] == 8  # marked, so not read again


def test_undecodable_input_is_dead_lettered_with_its_reason() -> None:
    outcome = Join().run((NAMES.events, 0, b"\x00\x00\x00\x00\x02garbage"))
    ((topic, key, payload, reason),) = outcome.dead_letters
    assert topic == NAMES.events and key == b"u1" and payload.endswith(b"garbage")
    assert "cannot decode" in reason


def test_events_older_than_the_retention_are_dead_lettered() -> None:
    join = Join()
    join.run((NAMES.exposures, 0, exposure(time=T0 + 30 * 86_400_000)))
    outcome = join.run((NAMES.events, 1, goal("old", time=T0)))
    assert "cannot be deduplicated" in outcome.dead_letters[0][3]
    assert facts(outcome)[0]["values"] == {"n": 0.0}


def test_exposures_naming_what_the_config_lacks_are_dead_lettered() -> None:
    config, _ = parse_config({"experiments": [{
        "key": "exp", "status": "active",
        "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "n", "kind": "count", "event": "purchase"}]}]})
    snapshot = ConfigSnapshot.build(config, 2)
    users: dict[str, Any] = {}
    processor = JoinProcessor(lambda user_id, _: users.get(user_id), NAMES, experiments,
                              config=lambda: snapshot)

    def forged(offset: int, **changes: Any) -> Any:
        record = {**decode("exposure", exposure(f"x{offset}")), **changes}
        return (NAMES.exposures, 0, offset, b"u1", encode("exposure", record))

    outcome = processor.process([forged(0, experiment="nope"), forged(1, variant="c"),
                                 forged(2, phase=2), forged(3)])
    reasons = [letter[3] for letter in outcome.dead_letters]
    assert [r.split(":")[0] for r in reasons] == [
        "unknown experiment", "unknown variant", "unknown phase"]
    assert "phase 2 is not a phase of 'exp'" in reasons[2]
    assert [(f["variant"], f["phase"]) for f in facts(outcome)] == [("b", 1)]


def test_a_batch_emits_facts_only_for_what_it_changed() -> None:
    join = Join()
    join.run((NAMES.exposures, 0, exposure()))
    search = encode("goal_event", {"event_id": "s1", "user_id": "u1", "name": "search",
                                   "value": None, "timestamp": T0 + 5, "received_at": T0 + 5,
                                   "attributes": {}})
    outcome = join.run((NAMES.events, 1, search))  # no metric of exp counts it
    assert outcome.facts == [] and list(outcome.users) == ["u1"]
    assert join.users["u1"]["version"] == 2  # stored all the same
    assert facts(join.run((NAMES.events, 2, goal("g1"))))[0]["version"] == 3


def test_a_state_stored_before_the_compact_form_loads_and_is_stored_compact() -> None:
    join = Join()
    join.run((NAMES.exposures, 0, exposure()), (NAMES.events, 0, goal("g1")))
    stored = join.users["u1"]
    old = {**stored, "exposures": {"exp/1": {
        "experiment": "exp", "phase": 1, "variant": "b", "first": T0, "override": False,
        "multiple": False, "attributes": {}, "late": False,
        "values": {"purchase": [1.0, 2.0]}, "covariates": {}}}}
    del old["format"]
    restarted = Join({"u1": old})
    (fact,) = facts(restarted.run((NAMES.events, 1, goal("g2"))))
    assert fact["values"] == {"n": 2.0} and fact["version"] == 3
    assert restarted.users["u1"]["format"] == 2


def test_a_goal_value_too_large_to_sum_is_dead_lettered() -> None:
    join = Join()
    join.run((NAMES.exposures, 0, exposure()))
    huge = {**decode("goal_event", goal("g1")), "value": 1.7976931348623157e308}
    outcome = join.run((NAMES.events, 1, encode("goal_event", huge)), (NAMES.events, 2, goal("g2")))
    assert "magnitude at most" in outcome.dead_letters[0][3]
    assert facts(outcome)[0]["values"] == {"n": 1.0}  # the next goal still counts


def test_a_user_whose_stored_state_cannot_be_read_does_not_stop_the_others() -> None:
    users: dict[str, Any] = {"bad": {"user_id": "bad", "exposures": None}}
    processor = JoinProcessor(lambda user_id, _: users.get(user_id), NAMES, experiments)
    good = exposure()
    outcome = processor.process([(NAMES.events, 0, 0, b"bad", encode("goal_event", {
        **decode("goal_event", goal("g0")), "user_id": "bad"})),
        (NAMES.exposures, 0, 1, b"u1", good)])
    assert "stored state cannot be read" in outcome.dead_letters[0][3]
    assert [f["user_id"] for f in facts(outcome)] == ["u1"]
