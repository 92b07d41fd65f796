"""The join over batch records, alone and mixed with single-event records."""

from __future__ import annotations

import copy
from typing import Any

from agents.join import JoinProcessor, Outcome
from schemas import current_registry, decode, encode, frame_batch
from tests.agents.test_join import NAMES, T0, experiments

USERS = ("u1", "u2", "u3")


def exposure(user: str, event_id: str, variant: str = "a") -> dict[str, Any]:
    return {"event_id": event_id, "user_id": user, "experiment": "exp", "variant": variant,
            "phase": 1, "config_version": 1, "timestamp": T0, "received_at": T0,
            "attributes": {}, "source": "", "override": False}


def goal(user: str, event_id: str, value: float = 2.0) -> dict[str, Any]:
    return {"event_id": event_id, "user_id": user, "name": "purchase", "value": value,
            "timestamp": T0 + 1000, "received_at": T0 + 1000, "attributes": {}}


def single(event: dict[str, Any]) -> bytes:
    return encode("exposure" if "experiment" in event else "goal_event", event)


def batched(events: list[dict[str, Any]]) -> bytes:
    kind = "exposure" if "experiment" in events[0] else "goal_event"
    return frame_batch(kind, [single(e) for e in events], current_registry())


class Join:
    """A processor over an in-memory table; offsets counted per topic."""

    def __init__(self) -> None:
        self.users: dict[str, Any] = {}
        # Copies: a state takes its stored record's lists as its own, as read from a table.
        self.processor = JoinProcessor(lambda user_id, _: copy.deepcopy(self.users.get(user_id)),
                                       NAMES, experiments)
        self.next = {NAMES.exposures: 0, NAMES.events: 0}

    def run(self, *records: tuple[str, bytes], offsets: list[int] | None = None,
            store: tuple[str, ...] | None = None) -> Outcome:
        """One batch of (topic, value) records; `store`: only these users' states are
        stored (a crash before the others were)."""
        messages = []
        for i, (topic, value) in enumerate(records):
            offset = offsets[i] if offsets else self.next[topic]
            self.next[topic] = max(self.next[topic], offset + 1)
            messages.append((topic, 0, offset, None, value))
        outcome = self.processor.process(messages)
        for user_id, (_, state) in outcome.users.items():
            if store is None or user_id in store:
                self.users[user_id] = state
        return outcome


def values(join: Join) -> dict[str, tuple[str, float]]:
    """Each user's variant and purchase count, from a final refresh of their facts."""
    found = {}
    for user in USERS:
        state = join.processor._load(user, 0)
        for fact in state.facts(experiments()):
            found[user] = (fact.variant, fact.values["n"])
    return found


EXPOSURES = [exposure(u, f"x-{u}", "ab"[i % 2]) for i, u in enumerate(USERS)]
GOALS = [goal(u, f"g{n}-{u}") for u in USERS for n in range(2)]


def test_mixed_single_and_batched_records_give_the_same_facts_as_either_alone() -> None:
    alone_single, alone_batched, mixed = Join(), Join(), Join()
    for join, records in (
        (alone_single, [(NAMES.exposures, single(e)) for e in EXPOSURES]
         + [(NAMES.events, single(g)) for g in GOALS]),
        (alone_batched, [(NAMES.exposures, batched(EXPOSURES)), (NAMES.events, batched(GOALS))]),
        (mixed, [(NAMES.exposures, single(EXPOSURES[0])), (NAMES.exposures, batched(EXPOSURES[1:])),
                 (NAMES.events, batched(GOALS[:3])), (NAMES.events, single(GOALS[3])),
                 (NAMES.events, batched(GOALS[4:]))]),
    ):
        assert join.run(*records).dead_letters == []
    expected = {"u1": ("a", 2.0), "u2": ("b", 2.0), "u3": ("a", 2.0)}
    assert values(alone_single) == values(alone_batched) == values(mixed) == expected


def test_a_replayed_batch_record_applies_none_of_its_events_twice() -> None:
    join = Join()
    join.run((NAMES.exposures, batched(EXPOSURES)), (NAMES.events, batched(GOALS)))
    replay = join.run((NAMES.events, batched(GOALS)), offsets=[0])
    assert values(join)["u2"] == ("b", 2.0)
    assert {decode("fact", v)["user_id"] for _, v in replay.facts} == set(USERS)  # re-sent


def test_a_crash_after_some_users_of_a_batch_record_skips_none_of_the_others() -> None:
    join = Join()
    join.run((NAMES.exposures, batched(EXPOSURES)))
    join.run((NAMES.events, batched(GOALS)), store=("u1",))  # u2, u3 lost in the crash
    assert values(join)["u2"] == ("b", 0.0)
    join.run((NAMES.events, batched(GOALS)), offsets=[0])
    assert values(join) == {"u1": ("a", 2.0), "u2": ("b", 2.0), "u3": ("a", 2.0)}
    assert join.users["u2"]["offsets"][f"{NAMES.events}/0"] == [0, 3]  # (offset, index)


def test_a_stored_plain_offset_covers_every_event_of_its_record() -> None:
    join = Join()
    join.run((NAMES.exposures, single(EXPOSURES[0])))
    join.users["u1"]["offsets"][f"{NAMES.events}/0"] = 7  # as older versions stored it
    join.run((NAMES.events, batched(GOALS[:2])), offsets=[7])
    assert values(join)["u1"] == ("a", 0.0)
    join.run((NAMES.events, batched(GOALS[:2])), offsets=[8])
    assert values(join)["u1"] == ("a", 2.0)


def test_a_batch_record_that_cannot_be_decoded_is_dead_lettered_whole() -> None:
    join = Join()
    broken = batched(GOALS)[:-3]
    outcome = join.run((NAMES.exposures, batched(EXPOSURES)), (NAMES.events, broken))
    ((topic, _, payload, reason),) = outcome.dead_letters
    assert (topic, payload) == (NAMES.events, broken) and "cannot decode" in reason
    assert values(join)["u3"] == ("a", 0.0)


def test_the_invalid_events_of_a_batch_record_are_dead_lettered_alone() -> None:
    join = Join()
    bad = [GOALS[0], goal("u2", "too-big", float("inf")), goal("", "nobody"), GOALS[5]]
    outcome = join.run((NAMES.exposures, batched(EXPOSURES)), (NAMES.events, batched(bad)))
    letters = {decode("goal_event", payload)["event_id"]: (key, reason)
               for _, key, payload, reason in outcome.dead_letters}
    assert set(letters) == {"too-big", "nobody"}
    assert letters["too-big"][0] == b"u2"
    assert letters["too-big"][1].startswith("value: must be a finite number")
    assert letters["too-big"][1].endswith("(event 1 of the batch record at offset 0)")
    assert letters["nobody"][1].startswith("user_id: must not be empty")
    assert values(join) == {"u1": ("a", 1.0), "u2": ("b", 0.0), "u3": ("a", 1.0)}
