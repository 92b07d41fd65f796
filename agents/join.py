"""A batch of messages of the streaming join: decode, deduplicate, update users, emit facts.

`JoinProcessor` holds no Kafka or Faust objects: it reads stored user states
through a function of user id and partition (a RocksDB table in the worker) and
returns what to store and what to send. The Faust agent in `agents.pipeline` is
a thin loop around it, and tests drive it directly.

A batch touches each of its users once: the user's state is loaded once,
every message of theirs is applied in order, and the final state is stored once
and its facts sent once. Replays are exact: the user's state remembers the last
offset it applied per partition, so a message read again after a crash changes
nothing, but its user's facts are sent again (the sink keeps the highest
version), which closes the gap of a change that reached the store but not the
sink.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents import metrics
from experiments.attribution import AttributionRules, ExperimentRules, UserState
from experiments.dedup import Verdict
from experiments.exposures import unknown_reason
from experiments.facts import Fact, phase_key
from experiments.snapshot import ConfigSnapshot
from schemas import SchemaError, decode, encode
from schemas.events import value_problem
from topology.topics import TopicNames

Message = tuple[str, int, int, bytes | None, bytes | None]  # topic, partition, offset, key, value
LoadUser = Callable[[str, int], Mapping[str, Any] | None]  # user_id, partition → stored state
DeadLetter = tuple[str, bytes | None, bytes, str]  # topic, key, raw payload, reason

log = logging.getLogger(__name__)
# What a stored state or an event this code cannot handle raises, instead of crashing the
# agent on the same message again and again: the message is dead-lettered with the reason.
UNREADABLE = (ArithmeticError, TypeError, ValueError, KeyError)


@dataclass
class Outcome:
    # user_id → (index in the batch of the user's last message, state to store)
    users: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    facts: list[tuple[bytes, bytes]] = field(default_factory=list)  # key, encoded Fact
    dead_letters: list[DeadLetter] = field(default_factory=list)


class JoinProcessor:
    def __init__(
        self,
        load_user: LoadUser,
        topics: TopicNames,
        experiments: Callable[[], Mapping[str, ExperimentRules]],
        rules: AttributionRules | None = None,
        config: Callable[[], ConfigSnapshot] | None = None,
    ) -> None:
        """`config`: the live configuration that exposures must name things of (None: no
        check, for tests of attribution alone)."""
        self.load_user = load_user
        self.topics = topics
        self.experiments = experiments
        self.rules = rules or AttributionRules()
        self.config = config
        self.watermark_ms = 0  # the newest event time read, for the lag metric
        self._snapshot: ConfigSnapshot | None = None

    def process(self, messages: Sequence[Message]) -> Outcome:
        outcome = Outcome()
        experiments = self.experiments()
        self._snapshot = self.config() if self.config else None
        touched: dict[str, UserState] = {}
        last_message: dict[str, int] = {}
        changed: set[str] = set()
        for index, (topic, partition, offset, key, value) in enumerate(messages):
            metrics.EVENTS_IN.labels(topic).inc()
            is_exposure = topic == self.topics.exposures
            try:
                record = decode("exposure" if is_exposure else "goal_event", value or b"")
            except SchemaError as exc:
                outcome.dead_letters.append(self._dead(topic, key, value or b"", str(exc)))
                continue
            user_id = record["user_id"]
            try:
                user = touched.get(user_id) or self._load(user_id, partition)
            except UNREADABLE as exc:  # one user's bad state must not stop everyone's events
                log.exception("the stored state of user %r cannot be read", user_id)
                outcome.dead_letters.append(self._dead(
                    topic, key, value or b"", f"the user's stored state cannot be read: {exc}"))
                continue
            touched[user_id], last_message[user_id] = user, index
            source = f"{topic}/{partition}"
            if user.applied(source, offset):
                metrics.REPLAYED.inc()
                continue
            try:
                self._apply(user, is_exposure, record, topic, key, value or b"", experiments,
                            outcome.dead_letters)
            except UNREADABLE as exc:
                log.exception("an event of user %r could not be applied", user_id)
                outcome.dead_letters.append(self._dead(
                    topic, key, value or b"", f"could not be applied: {exc!r}"))
            user.mark(source, offset)
            changed.add(user_id)
        for user_id in changed:
            outcome.users[user_id] = (last_message[user_id], touched[user_id].to_dict())
        for user in touched.values():
            outcome.facts.extend(self._facts(user, experiments))
        metrics.EVENT_TIME_LAG.set(max(0.0, time.time() - self.watermark_ms / 1000))
        return outcome

    def _apply(self, user: UserState, is_exposure: bool, record: dict[str, Any], topic: str,
               key: bytes | None, payload: bytes, experiments: Mapping[str, ExperimentRules],
               dead_letters: list[DeadLetter]) -> None:
        # Exposures produced straight to Kafka skipped the intake's check of their names.
        if is_exposure:
            refused = unknown_reason(self._snapshot, record) if self._snapshot else None
        else:
            refused = value_problem(record.get("value"))
        if refused is not None:
            dead_letters.append(self._dead(topic, key, payload, refused))
            return
        event_time = record["timestamp"]
        verdict = user.check(record["event_id"], event_time)
        if verdict is Verdict.TOO_LATE:
            metrics.LATE_EVENTS.inc()
            dead_letters.append(self._dead(
                topic, key, payload,
                "older than the deduplication retention: cannot be deduplicated"))
            return
        if verdict is Verdict.DUPLICATE:
            metrics.DUPLICATES.labels(topic).inc()
            return
        self.watermark_ms = max(self.watermark_ms, event_time)
        # First: what the user's grace period has let go is gone, this event's time included.
        user.evict(max(user.watermark, event_time))
        if is_exposure:
            self._expose(user, record, experiments)
        else:
            user.on_goal(record, experiments)

    def _load(self, user_id: str, partition: int) -> UserState:
        stored = self.load_user(user_id, partition)
        if stored is None:
            return UserState(user_id, self.rules)
        return UserState.from_dict(stored, self.rules)

    def _expose(self, user: UserState, record: dict[str, Any],
                experiments: Mapping[str, ExperimentRules]) -> None:
        key = phase_key(record["experiment"], record["phase"])
        was_multiple = user.exposures.get(key, {}).get("multiple", False)
        user.on_exposure(record, experiments.get(record["experiment"]), user.watermark)
        state = user.exposures[key]
        if state["multiple"] and not was_multiple:
            metrics.MULTIPLE_EXPOSURES.inc()
        if state["late"]:
            metrics.LATE_EXPOSURES.inc()

    def _facts(self, user: UserState,
               experiments: Mapping[str, ExperimentRules]) -> list[tuple[bytes, bytes]]:
        facts = [(f"{phase_key(f.experiment, f.phase)}/{f.user_id}".encode(), encode_fact(f))
                 for f in user.facts(experiments)]
        metrics.FACTS.inc(len(facts))
        return facts

    def _dead(self, topic: str, key: bytes | None, payload: bytes, reason: str) -> DeadLetter:
        metrics.DEAD_LETTERS.labels(topic, reason.split(":")[0][:40]).inc()
        return topic, key, payload, reason


def encode_fact(fact: Fact) -> bytes:
    return encode("fact", {
        "experiment": fact.experiment, "phase": fact.phase, "variant": fact.variant,
        "user_id": fact.user_id, "first_exposure": fact.first_exposure_ms,
        "attributes": dict(fact.attributes), "values": dict(fact.values),
        "covariates": dict(fact.covariates), "multiple_exposures": fact.multiple_exposures,
        "version": fact.version,
    }, validate=False)
