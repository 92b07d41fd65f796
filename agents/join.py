"""One message of the streaming join: decode, deduplicate, update the user, emit facts.

`JoinProcessor` holds no Kafka or Faust objects: it reads and writes two
mappings (the user states and the seen event ids; RocksDB tables in the worker)
and returns what to send. The Faust agent in `agents.pipeline` is a thin loop
around it, and tests drive it directly.

Replays are exact: the user's state remembers the last offset it applied per
partition, so a message read again after a crash changes nothing, but its
user's facts are emitted again (the sink keeps the highest version), which
closes the gap of a change that reached the local store but not the sink.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from agents import metrics
from experiments.attribution import AttributionRules, ExperimentRules, Fact, UserState
from experiments.dedup import DEFAULT_RETENTION_MS, DedupWindow, Verdict
from schemas import SchemaError, decode, encode
from topology.topics import TopicNames

DeadLetter = tuple[bytes | None, bytes, str]  # key, raw payload, reason


@dataclass
class Outcome:
    facts: list[tuple[bytes, bytes]] = field(default_factory=list)  # key, encoded Fact
    dead_letters: list[DeadLetter] = field(default_factory=list)


class JoinProcessor:
    def __init__(
        self,
        users: MutableMapping[str, Any],
        seen: MutableMapping[str, Any],
        topics: TopicNames,
        experiments: Callable[[], Mapping[str, ExperimentRules]],
        rules: AttributionRules | None = None,
        retention_ms: int = DEFAULT_RETENTION_MS,
    ) -> None:
        self.users = users
        self.dedup = DedupWindow(seen, retention_ms)
        self.topics = topics
        self.experiments = experiments
        self.rules = rules or AttributionRules()
        self._rebuilt = False

    def process(self, topic: str, partition: int, offset: int, key: bytes | None,
                value: bytes | None) -> Outcome:
        if not self._rebuilt:  # the seen-ids table was recovered from its changelog
            self.dedup.rebuild()
            self._rebuilt = True
        metrics.EVENTS_IN.labels(topic).inc()
        is_exposure = topic == self.topics.exposures
        try:
            record = decode("exposure" if is_exposure else "goal_event", value or b"")
        except SchemaError as exc:
            return self._dead(topic, key, value or b"", str(exc))
        source = f"{topic}/{partition}"
        user = self._user(record["user_id"])
        if user.applied(source, offset):
            metrics.REPLAYED.inc()
            return Outcome(facts=self._facts(user))
        verdict = self.dedup.check(record["event_id"], record["timestamp"],
                                   f"{source}@{offset}")
        if verdict is Verdict.TOO_LATE:
            metrics.LATE_EVENTS.inc()
            return self._dead(topic, key, value or b"",
                              "older than the deduplication retention: cannot be deduplicated")
        if verdict is Verdict.DUPLICATE:
            metrics.DUPLICATES.labels(topic).inc()
            return Outcome()
        experiments = self.experiments()
        # First: what the user's grace period has let go is gone, this event's time included.
        user.evict(max(user.watermark, record["timestamp"]))
        if is_exposure:
            self._expose(user, record, experiments)
        else:
            user.on_goal(record, experiments)
        user.mark(source, offset)
        self.users[user.user_id] = user.to_dict()  # one write per change: assign it back
        metrics.EVENT_TIME_LAG.set(max(0.0, time.time() - self.dedup.watermark_ms / 1000))
        return Outcome(facts=self._facts(user))

    def expire(self) -> int:
        return self.dedup.expire()

    def _user(self, user_id: str) -> UserState:
        stored = self.users.get(user_id)
        if stored is None:
            return UserState(user_id, self.rules)
        return UserState.from_dict(stored, self.rules)

    def _expose(self, user: UserState, record: dict[str, Any],
                experiments: Mapping[str, ExperimentRules]) -> None:
        key = f"{record['experiment']}/{record['phase']}"
        was_multiple = user.exposures.get(key, {}).get("multiple", False)
        user.on_exposure(record, experiments.get(record["experiment"]), user.watermark)
        state = user.exposures[key]
        if state["multiple"] and not was_multiple:
            metrics.MULTIPLE_EXPOSURES.inc()
        if state["late"]:
            metrics.LATE_EXPOSURES.inc()

    def _facts(self, user: UserState) -> list[tuple[bytes, bytes]]:
        facts = [(f"{f.experiment}/{f.phase}/{f.user_id}".encode(), encode_fact(f))
                 for f in user.facts(self.experiments())]
        metrics.FACTS.inc(len(facts))
        return facts

    def _dead(self, topic: str, key: bytes | None, payload: bytes, reason: str) -> Outcome:
        metrics.DEAD_LETTERS.labels(topic, reason.split(":")[0][:40]).inc()
        return Outcome(dead_letters=[(key, payload, reason)])


def encode_fact(fact: Fact) -> bytes:
    return encode("fact", {
        "experiment": fact.experiment, "phase": fact.phase, "variant": fact.variant,
        "user_id": fact.user_id, "first_exposure": fact.first_exposure_ms,
        "attributes": dict(fact.attributes), "values": dict(fact.values),
        "covariates": dict(fact.covariates), "multiple_exposures": fact.multiple_exposures,
        "version": fact.version,
    }, validate=False)
