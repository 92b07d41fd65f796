"""A batch of messages of the streaming join: decode, deduplicate, update users, emit facts.

`JoinProcessor` holds no Kafka or Faust objects: it reads stored user states
through a function of user id and partition (a RocksDB table in the worker) and
returns what to store and what to send. The Faust agent in `agents.pipeline` is
a thin loop around it, and tests drive it directly.

A batch touches each of its users once: the user's state is loaded once,
every message of theirs is applied in order, and the final state is stored once
and the facts of the experiments it changed sent once. Replays are exact: the
user's state remembers the last offset it applied per partition, so a message
read again after a crash changes nothing, but all its user's facts are sent again
(the sink keeps the highest version), which closes the gap of a change that
reached the store but not the sink. So do duplicates and events too old to
deduplicate.

Per batch, not per event: the configuration is read, metrics are counted (their
labelled children are looked up once, at construction), and names that
exposures give are checked against the configuration once per distinct name.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agents import metrics
from agents.fact_records import FactEncoder, encode_fact, fact_key, fact_record
from experiments.attribution import WHOLE, AttributionRules, ExperimentRules, UserState
from experiments.dedup import Verdict
from experiments.exposures import unknown_reason
from experiments.facts import phase_key
from experiments.snapshot import ConfigSnapshot
from experiments.user_record import LATE, MULTIPLE
from schemas import SchemaError, current_registry, encoder, event_reader
from schemas.events import value_problem
from topology.topics import TopicNames

Message = tuple[str, int, int, bytes | None, bytes | None]  # topic, partition, offset, key, value
LoadUser = Callable[[str, int], Mapping[str, Any] | None]  # user_id, partition → stored state
DeadLetter = tuple[str, bytes | None, bytes, str]  # topic, key, raw payload, reason

log = logging.getLogger(__name__)
__all__ = ["JoinProcessor", "Outcome", "encode_fact", "fact_key", "fact_record"]
# What a stored state or an event this code cannot handle raises, instead of crashing the
# agent on the same message again and again: the message is dead-lettered with the reason.
UNREADABLE = (ArithmeticError, AttributeError, LookupError, TypeError, ValueError)


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
        self._counters = _Counters(topics)
        self._snapshot: ConfigSnapshot | None = None
        self._unknown: dict[tuple[str, str, int], str | None] = {}  # for self._snapshot

    def process(self, messages: Sequence[Message]) -> Outcome:
        batch = _Batch(self.experiments(), self._counters)
        self._use_config(self.config() if self.config else None)
        registry = current_registry()
        exposures = event_reader("exposure", registry)
        goals = event_reader("goal_event", registry)
        exposures_topic = self.topics.exposures
        for index, (topic, partition, offset, key, value) in enumerate(messages):
            is_exposure = topic == exposures_topic
            try:
                events, is_batch = (exposures if is_exposure else goals)(value or b"")
            except SchemaError as exc:
                batch.events_in[topic] += 1
                batch.dead(topic, key, value or b"", str(exc))
                continue
            batch.events_in[topic] += len(events)
            read = _Read(index, topic, partition, offset, key, value or b"", is_exposure,
                         is_batch)
            for position, record in enumerate(events):
                self._event(batch, read, position if is_batch else WHOLE, record)
        outcome = batch.finish()
        metrics.EVENT_TIME_LAG.set(max(0.0, time.time() - self.watermark_ms / 1000))
        return outcome

    def _event(self, batch: _Batch, read: _Read, position: int, record: dict[str, Any]) -> None:
        """One event: of a single-event record (position WHOLE) or of a batch record."""
        user_id = record["user_id"]
        if not user_id:  # a batch record's events skipped every check on the way in
            batch.dead_event(read, position, record, "user_id: must not be empty")
            return
        try:
            user = batch.user(user_id, read.index, read.partition, self._load)
        except UNREADABLE as exc:  # one user's bad state must not stop everyone's events
            log.exception("the stored state of user %r cannot be read", user_id)
            batch.dead_event(read, position, record,
                             f"the user's stored state cannot be read: {exc}")
            return
        if user.applied(read.source, read.offset, position):
            batch.replayed(user)
            return
        try:
            self._apply(batch, user, read, position, record)
        except UNREADABLE as exc:
            log.exception("an event of user %r could not be applied", user.user_id)
            batch.dead_event(read, position, record, f"could not be applied: {exc!r}")
        user.mark(read.source, read.offset, position)
        batch.changed.add(user.user_id)

    def _use_config(self, snapshot: ConfigSnapshot | None) -> None:
        if snapshot is not self._snapshot:
            self._snapshot = snapshot
            self._unknown.clear()

    def _apply(self, batch: _Batch, user: UserState, read: _Read, position: int,
               record: dict[str, Any]) -> None:
        is_exposure = read.is_exposure
        # Exposures produced straight to Kafka skipped the intake's check of their names.
        refused = (self._unknown_reason(record) if is_exposure
                   else value_problem(record.get("value")))
        if refused is not None:
            batch.dead_event(read, position, record, refused)
            return
        event_time = record["timestamp"]
        verdict = user.check(record["event_id"], event_time)
        if verdict is not Verdict.NEW:
            batch.refused(user, read, position, record, verdict)
            return
        if event_time > self.watermark_ms:
            self.watermark_ms = event_time
        # First: what the user's grace period has let go is gone, this event's time included.
        user.evict(max(user.watermark, event_time))
        if is_exposure:
            batch.expose(user, record)
        else:
            user.on_goal(record, batch.experiments)

    def _unknown_reason(self, record: dict[str, Any]) -> str | None:
        if self._snapshot is None:
            return None
        names = (record["experiment"], record["variant"], record["phase"])
        if names not in self._unknown:
            self._unknown[names] = unknown_reason(self._snapshot, record)
        return self._unknown[names]

    def _load(self, user_id: str, partition: int) -> UserState:
        stored = self.load_user(user_id, partition)
        if stored is None:
            return UserState(user_id, self.rules)
        return UserState.from_dict(stored, self.rules)


@dataclass(slots=True)
class _Read:
    """A record read: where it came from, what it held, and the name of its source."""

    index: int  # in the batch of messages
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    is_exposure: bool
    is_batch: bool
    source: str = ""

    def __post_init__(self) -> None:
        self.source = f"{self.topic}/{self.partition}"


class _Counters:
    """The join's metrics, their labelled children looked up once."""

    def __init__(self, topics: TopicNames) -> None:
        names = (topics.exposures, topics.events)
        self.events_in = {topic: metrics.EVENTS_IN.labels(topic) for topic in names}
        self.duplicates = {topic: metrics.DUPLICATES.labels(topic) for topic in names}

    def count(self, events_in: Counter[str], duplicates: Counter[str],
              totals: Mapping[str, int]) -> None:
        """One batch's counts: per topic, and per unlabelled metric (by attribute name)."""
        for children, counts in ((self.events_in, events_in), (self.duplicates, duplicates)):
            for topic, count in counts.items():
                children[topic].inc(count)
        for name, count in totals.items():
            if count:
                getattr(metrics, name).inc(count)


class _Batch:
    """What one batch gathers: its users, their changes, its counts and its output."""

    def __init__(self, experiments: Mapping[str, ExperimentRules], counters: _Counters) -> None:
        self.experiments, self.counters = experiments, counters
        self.outcome = Outcome()
        self.touched: dict[str, UserState] = {}
        self.last_message: dict[str, int] = {}
        self.changed: set[str] = set()  # users with a message applied: stored
        self.refresh: set[str] = set()  # users with a message that changed nothing
        self.events_in: Counter[str] = Counter()
        self.duplicates: Counter[str] = Counter()
        self.totals = dict.fromkeys(("REPLAYED", "LATE_EVENTS", "MULTIPLE_EXPOSURES",
                                     "LATE_EXPOSURES", "FACTS"), 0)

    def user(self, user_id: str, index: int, partition: int,
             load: Callable[[str, int], UserState]) -> UserState:
        user = self.touched.get(user_id)
        if user is None:
            user = self.touched[user_id] = load(user_id, partition)
        self.last_message[user_id] = index
        return user

    def replayed(self, user: UserState) -> None:
        self.totals["REPLAYED"] += 1
        self.refresh.add(user.user_id)

    def refused(self, user: UserState, read: _Read, position: int, record: dict[str, Any],
                verdict: Verdict) -> None:
        """A duplicate or an event too old to deduplicate: its user's facts go again."""
        self.refresh.add(user.user_id)
        if verdict is Verdict.DUPLICATE:
            self.duplicates[read.topic] += 1
            return
        self.totals["LATE_EVENTS"] += 1
        self.dead_event(read, position, record,
                        "older than the deduplication retention: cannot be deduplicated")

    def expose(self, user: UserState, record: dict[str, Any]) -> None:
        key = phase_key(record["experiment"], record["phase"])
        was_multiple = user.flags(key) & MULTIPLE
        user.on_exposure(record, self.experiments.get(record["experiment"]), user.watermark)
        flags = user.flags(key)
        if flags & MULTIPLE and not was_multiple:
            self.totals["MULTIPLE_EXPOSURES"] += 1
        if flags & LATE:
            self.totals["LATE_EXPOSURES"] += 1

    def dead_event(self, read: _Read, position: int, record: dict[str, Any],
                   reason: str) -> None:
        """Dead-letter one event: a single-event record as it came, an event of a batch
        record as a single-event record of its own, its place named in the reason."""
        if position == WHOLE:
            self.dead(read.topic, read.key, read.value, reason)
            return
        kind = "exposure" if read.is_exposure else "goal_event"
        payload = encoder(kind, current_registry())(record)
        self.dead(read.topic, record["user_id"].encode(), payload,
                  f"{reason} (event {position} of the batch record at offset {read.offset})")

    def dead(self, topic: str, key: bytes | None, payload: bytes, reason: str) -> None:
        metrics.DEAD_LETTERS.labels(topic, reason.split(":")[0][:40]).inc()
        self.outcome.dead_letters.append((topic, key, payload, reason))

    def finish(self) -> Outcome:
        """Facts of what changed (every fact of a user to refresh), then the states to
        store: making facts notes which rules they were made with."""
        encode_one = FactEncoder(current_registry())
        for user_id, user in self.touched.items():
            keys = user.take_changed(self.experiments)
            if keys or user_id in self.refresh:
                for fact in user.facts(self.experiments,
                                       None if user_id in self.refresh else keys):
                    self.outcome.facts.append((fact_key(fact), encode_one(fact)))
        for user_id in self.changed:
            self.outcome.users[user_id] = (self.last_message[user_id],
                                           self.touched[user_id].to_dict())
        self.totals["FACTS"] = len(self.outcome.facts)
        self.counters.count(self.events_in, self.duplicates, self.totals)
        return self.outcome
