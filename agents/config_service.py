"""The config log on Kafka: tailing it into a live snapshot, and writing changes to it.

Every worker (and the API inside it) reads the config topic from the beginning
with a group-less consumer, folds it into a `ConfigState`, and is ready once it
has read up to the end offsets it saw at start. Writes go to the same log and
are confirmed by reading them back: a write counts only if the fold applied it,
which makes concurrent writers safe without locks (the log orders them).

A change is audited before it is written, so no change can apply without its
audit record; a change audited but not applied is marked (see `write`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError, MessageSizeTooLargeError, RecordTooLargeError

from agents.config_state import Checked, ConfigRecord, ConfigState
from errors import AbstreamError
from experiments.errors import Problem
from schemas import decode, encode
from topology.topics import TopicNames

log = logging.getLogger(__name__)

READ_BACK_TIMEOUT_S = 15.0
# Below Kafka's default message.max.bytes (1,048,588), with room for the key and framing.
MAX_RECORD_BYTES = 900_000
_FRAMING_BYTES = 64 * 1024


class WriteRejected(AbstreamError):
    """The log refused a write: stale (409) or invalid (422); `problems` says why."""

    def __init__(self, problems: list[Problem], stale: bool) -> None:
        self.problems = problems
        self.stale = stale
        super().__init__("; ".join(map(str, problems)))


class RecordTooLarge(AbstreamError):
    """A record of the change would exceed the bound; nothing was written."""


class WriteFailed(AbstreamError):
    """The log could not take the change now (503); the message says what was written."""


@dataclass(frozen=True)
class AuditEntry:
    change_id: str
    action: str
    reason: str
    before: dict[str, Any] | None
    after: dict[str, Any] | None
    diff: dict[str, Any]
    summary: dict[str, Any]


class ConfigService:
    """Tails the config and audit topics; writes changes and reads them back."""

    def __init__(
        self, bootstrap: str, topics: TopicNames, clock: Callable[[], float] = time.time,
        max_record_bytes: int = MAX_RECORD_BYTES,
    ) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.clock = clock
        self.max_record_bytes = max_record_bytes
        self.state = ConfigState()
        self.history: dict[str, list[dict[str, Any]]] = {}  # "<kind>:<key>" → audit records
        self.audit_offset = 0  # the next audit offset to read
        self.ready = asyncio.Event()
        self._progress = asyncio.Condition()
        self._write_lock = asyncio.Lock()
        self._consumer: AIOKafkaConsumer | None = None
        self._producer: AIOKafkaProducer | None = None
        self._task: asyncio.Task | None = None

    async def start(self) -> None:
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
            # Never refuse what the bound lets through: the broker has the last word.
            max_request_size=max(1024 * 1024, self.max_record_bytes + _FRAMING_BYTES),
        )
        self._consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, enable_auto_commit=False, fetch_max_wait_ms=50
        )
        await self._producer.start()
        await self._consumer.start()
        partitions = [TopicPartition(self.topics.config, 0),
                      TopicPartition(self.topics.config_audit, 0)]
        self._consumer.assign(partitions)
        await self._consumer.seek_to_beginning(*partitions)
        ends = await self._consumer.end_offsets(partitions)
        self._task = asyncio.create_task(self._tail(ends))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for client in (self._consumer, self._producer):
            if client is not None:
                await client.stop()

    async def _tail(self, ends: dict[TopicPartition, int]) -> None:
        assert self._consumer is not None
        if all(end == 0 for end in ends.values()):
            self.ready.set()
        while True:
            batches = await self._consumer.getmany(timeout_ms=200)
            for partition, messages in batches.items():
                for message in messages:
                    self._fold(partition.topic, message)
            if not self.ready.is_set() and await self._caught_up(ends):
                self.ready.set()
                log.info("config caught up at version %d", self.state.offset)
            if batches:
                async with self._progress:
                    self._progress.notify_all()

    async def _caught_up(self, ends: dict[TopicPartition, int]) -> bool:
        assert self._consumer is not None
        for partition, end in ends.items():
            if await self._consumer.position(partition) < end:
                return False
        return True

    def _fold(self, topic: str, message: Any) -> None:
        key = message.key.decode() if message.key else ""
        if topic == self.topics.config_audit:
            self.audit_offset = message.offset + 1
            if message.value is not None:
                self.history.setdefault(key, []).append(decode("audit_record", message.value))
            return
        record = None
        if message.value is not None:
            try:
                record = ConfigRecord.from_avro(decode("config_record", message.value))
            except (AbstreamError, ValueError) as exc:
                log.error("config record at offset %d is unreadable: %s", message.offset, exc)
                self.state.rejected[message.offset] = [Problem("config", "record", str(exc))]
                self.state.offset = message.offset + 1
                return
        if not self.state.apply(message.offset, record, key) and record is not None:
            log.warning("config record %s v%d rejected: %s", key, record.version,
                        self.state.rejected.get(message.offset))

    async def wait_for(
        self, offset: int, timeout: float = READ_BACK_TIMEOUT_S, audit: bool = False
    ) -> None:
        """Until the fold has read past `offset` of the config (or the audit) topic."""
        done = (lambda: self.audit_offset > offset) if audit else (
            lambda: self.state.offset > offset)
        async with self._progress:
            await asyncio.wait_for(self._progress.wait_for(done), timeout)

    async def catch_up(self, timeout: float = READ_BACK_TIMEOUT_S) -> None:
        """Until the fold has read all the config log held when called.

        A write decides on the newest state, whichever worker wrote it: a change
        proposed on one worker can be approved on another at once, and a stale
        version is refused before anything is written. Raises `WriteFailed`.
        """
        assert self._consumer is not None
        config, audit = (TopicPartition(self.topics.config, 0),
                         TopicPartition(self.topics.config_audit, 0))
        try:
            ends = await self._consumer.end_offsets([config, audit])
            await self.wait_for(ends[config] - 1, timeout)
            await self.wait_for(ends[audit] - 1, timeout, audit=True)
        except (KafkaError, TimeoutError) as exc:
            raise WriteFailed(f"cannot read the config log to its end: {exc!r}") from None

    async def write(
        self, checked: Checked, actor: str, audit: AuditEntry, expected_version: int,
        audit_key: str | None = None,
    ) -> ConfigRecord:
        """Write version `expected_version + 1` of a checked definition; return it once applied.

        Step 1. Refuse (nothing written) a stale version, or a record over the bound.
        Step 2. Write the audit record and read it back.
        Step 3. Write the config record; the fold here applies it without checking it
                again if nothing came first.
        Step 4. Read it back. If it did not apply, or could not be written, append a
                `failed` audit record for the change (history shows it as not applied).
        Raises `WriteRejected` (stale or invalid), `RecordTooLarge` or `WriteFailed`.
        """
        async with self._write_lock:
            record = ConfigRecord(checked.kind, checked.key, expected_version + 1, actor,
                                  int(self.clock() * 1000), audit.reason, checked.definition)
            audit_value = _audit_value(record, expected_version, audit)
            values = self._encoded(record, audit_value)
            audit_topic_key = audit_key or record.topic_key
            await self._send_audit(values[1], audit_topic_key)
            self.state.vouch(checked)
            try:
                sent = await self._send(self.topics.config, values[0], record.topic_key)
            except (WriteFailed, RecordTooLarge) as exc:
                await self._mark_failed(audit_value, audit_topic_key, str(exc))
                raise WriteFailed(f"audited but not applied (marked failed): {exc}") from None
            await self._read_back(sent.offset)
            if sent.offset in self.state.rejected:
                problems = self.state.rejected[sent.offset]
                await self._mark_failed(audit_value, audit_topic_key, str(problems[0]))
                raise WriteRejected(problems, stale=problems[0].field == "version")
            return record

    def _encoded(self, record: ConfigRecord, audit_value: dict[str, Any]) -> tuple[bytes, bytes]:
        stale = self.state.version_of(record.kind, record.key) + 1 != record.version
        if stale:  # caught here, it leaves no audit record behind
            raise WriteRejected([Problem(f"{record.kind} {record.key!r}", "version",
                                         "stale write: another change came first")], stale=True)
        values = encode("config_record", record.to_avro()), encode("audit_record", audit_value)
        for name, value in zip(("config", "audit"), values, strict=True):
            if len(value) > self.max_record_bytes:
                raise RecordTooLarge(f"the change's {name} record would be {len(value)} bytes; "
                                     f"at most {self.max_record_bytes} bytes fit the log")
        return values

    async def _send(self, topic: str, value: bytes, key: str) -> Any:
        assert self._producer is not None
        try:
            return await self._producer.send_and_wait(topic, value, key=key.encode())
        except (MessageSizeTooLargeError, RecordTooLargeError) as exc:
            raise RecordTooLarge(f"the broker refused a record of {len(value)} bytes: {exc}"
                                 ) from None
        except KafkaError as exc:
            raise WriteFailed(f"cannot write to {topic}: {exc}") from None

    async def _send_audit(self, value: bytes, key: str) -> None:
        logged = await self._send(self.topics.config_audit, value, key)
        try:
            await self.wait_for(logged.offset, audit=True)  # read your writes, history too
        except TimeoutError:
            raise WriteFailed("the audit record was written but not read back in time; "
                              "the change was not applied") from None

    async def _read_back(self, offset: int) -> None:
        try:
            await self.wait_for(offset)
        except TimeoutError:
            raise WriteFailed("audited and written, but not read back in time; "
                              "it applies if the log accepts it") from None

    async def _mark_failed(self, audit_value: dict[str, Any], key: str, why: str) -> None:
        """Best effort: without it, history still shows the change as not applied."""
        marker = {**audit_value, "action": "failed", "reason": why[:1000], "before": None,
                  "after": None, "diff": "{}", "summary": "{}"}
        try:
            await self._send_audit(encode("audit_record", marker), key)
        except (WriteFailed, RecordTooLarge) as exc:
            log.error("could not mark change %s as failed: %s", audit_value["change_id"], exc)


def _audit_value(record: ConfigRecord, version_before: int, audit: AuditEntry) -> dict[str, Any]:
    dump = lambda value: None if value is None else json.dumps(value)  # noqa: E731
    return {
        "change_id": audit.change_id, "kind": record.kind, "key": record.key,
        "action": audit.action, "actor": record.actor, "time": record.time,
        "reason": audit.reason, "version_before": version_before,
        "version_after": record.version, "before": dump(audit.before),
        "after": dump(audit.after), "diff": json.dumps(audit.diff),
        "summary": json.dumps(audit.summary),
    }


def new_change_id() -> str:
    return uuid.uuid4().hex[:12]
