"""Producing abstream's events: validated, Avro-framed, packed by partition, acknowledged.

Events are placed by Kafka's default (murmur2) partitioner on their `user_id`, the
same one Java and librdkafka clients use, so exposures and goal events of one user
land on the same partition number of their topics. `send_exposures` and
`send_goals` pack them into batch records (`topology.packing`), one per partition
and size bound, waiting `PACK_LINGER_MS` for other calls' events to share them;
`send_packed` packs one call's events at once (the intake: one record per
partition and request); `send_encoded` sends single-event records.
The producer is idempotent with `acks=all`: retries after a timeout never
write a record twice.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from schemas import encode, encode_dead_letter
from topology.packing import MAX_BATCH_BYTES, Encoded, pack
from topology.topics import TopicNames

LINGER_MS = 5  # wait this long to fill a batch: more throughput for little latency
PACK_LINGER_MS = 5  # and this long for other calls' events to share a batch record


class EventProducer:
    def __init__(self, bootstrap: str, topics: TopicNames, linger_ms: float = PACK_LINGER_MS,
                 max_bytes: int = MAX_BATCH_BYTES) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self.linger_ms, self.max_bytes = linger_ms, max_bytes
        self._producer: AIOKafkaProducer | None = None
        # topic → events waiting for their batch records, each with its caller's future
        self._waiting: dict[str, list[tuple[Encoded, asyncio.Future[None]]]] = {}
        self._lingering: dict[str, asyncio.TimerHandle] = {}
        self._sending: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        # Created here, not in __init__: aiokafka binds to the running event loop.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
            linger_ms=LINGER_MS, max_batch_size=256 * 1024,
        )
        await self._producer.start()

    async def stop(self) -> None:
        for topic in list(self._waiting):  # what callers still wait for goes first
            self._flush(topic)
        await asyncio.gather(*self._sending, return_exceptions=True)
        if self._producer is not None:
            await self._producer.stop()

    @property
    def _client(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise RuntimeError("EventProducer.start() was not awaited")
        return self._producer

    async def send_exposures(
        self, records: Sequence[dict[str, Any]], *, checked: bool = False
    ) -> None:
        """Produce exposures in batch records; `checked`: they come from `check_exposure`."""
        await self._linger(self.topics.exposures, encode_records("exposure", records, checked))

    async def send_goals(self, records: Sequence[dict[str, Any]], *, checked: bool = False) -> None:
        """Produce goal events in batch records; `checked`: they come from `check_goal`."""
        await self._linger(self.topics.events, encode_records("goal_event", records, checked))

    async def send_packed(self, topic: str, events: Sequence[Encoded]) -> None:
        """Pack single-event records of `topic` (exposures or events) into batch records,
        one per partition (and size bound), send them and wait for Kafka's acks."""
        if not events:
            return
        kind = "exposure" if topic == self.topics.exposures else "goal_event"
        partitions = len(await self._client.partitions_for(topic))
        futures = [await self._client.send(topic, value, key=key, partition=partition)
                   for partition, key, value in pack(kind, events, partitions, self.max_bytes)]
        await asyncio.gather(*futures)

    async def _linger(self, topic: str, events: list[Encoded]) -> None:
        """Queue `events` for the next batch records of `topic`, sent once the linger is
        over or the queue holds a record's worth, and wait until they are acknowledged."""
        loop = asyncio.get_running_loop()
        waiting = self._waiting.setdefault(topic, [])
        futures = [loop.create_future() for _ in events]
        waiting.extend(zip(events, futures, strict=True))
        if sum(len(value) for (_, value), _ in waiting) >= self.max_bytes:
            self._flush(topic)
        elif topic not in self._lingering:
            self._lingering[topic] = loop.call_later(self.linger_ms / 1000, self._flush, topic)
        await asyncio.gather(*futures)

    def _flush(self, topic: str) -> None:
        if handle := self._lingering.pop(topic, None):
            handle.cancel()
        waiting = self._waiting.pop(topic, [])
        if waiting:
            self._sending.add(task := asyncio.ensure_future(
                self.send_packed(topic, [event for event, _ in waiting])))
            task.add_done_callback(self._sending.discard)
            task.add_done_callback(lambda done: _settle(done, [f for _, f in waiting]))

    async def send_dead_letters(
        self, topic: str, source: str, failures: Iterable[tuple[bytes | None, bytes, str]]
    ) -> None:
        """Dead-letter (key, raw payload, reason) triples that were headed for `topic`."""
        letters = encode_dead_letters(topic, source, failures)
        await self.send_encoded(self.topics.deadletter, letters)

    async def send_encoded(self, topic: str, records: Sequence[Encoded]) -> None:
        """Send (key, value) pairs and return once Kafka acknowledged them all (or raise)."""
        futures = [await self._client.send(topic, value, key=key) for key, value in records]
        await asyncio.gather(*futures)


def _settle(done: asyncio.Future[None], futures: list[asyncio.Future[None]]) -> None:
    """Tell every caller whose events a send carried how it went."""
    error = asyncio.CancelledError() if done.cancelled() else done.exception()
    for future in futures:
        if not future.done():
            if error is None:
                future.set_result(None)
            else:
                future.set_exception(error)


def encode_records(schema: str, records: Sequence[dict[str, Any]],
                   checked: bool = False) -> list[Encoded]:
    """Every record encoded and keyed by user, before any is sent: a record that cannot
    be encoded raises here, not after others of its batch were written."""
    return [(record["user_id"].encode(), encode(schema, record, validate=not checked))
            for record in records]


def encode_dead_letters(topic: str, source: str,
                        failures: Iterable[tuple[bytes | None, bytes, str]]) -> list[Encoded]:
    now = int(time.time() * 1000)
    return [(key, encode_dead_letter(topic, key, payload, error, source, now))
            for key, payload, error in failures]
