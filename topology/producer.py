"""Producing abstream's events: validated, Avro-framed, keyed by user, acknowledged.

Records are keyed by `user_id` and partitioned by Kafka's default (murmur2)
partitioner, the same one Java and librdkafka clients use, so exposures and
goal events of one user land on the same partition number of their topics.
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
from topology.topics import TopicNames

LINGER_MS = 5  # wait this long to fill a batch: more throughput for little latency
Encoded = tuple[bytes | None, bytes]  # key, framed value


class EventProducer:
    def __init__(self, bootstrap: str, topics: TopicNames) -> None:
        self.bootstrap = bootstrap
        self.topics = topics
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        # Created here, not in __init__: aiokafka binds to the running event loop.
        self._producer = AIOKafkaProducer(
            bootstrap_servers=self.bootstrap, acks="all", enable_idempotence=True,
            linger_ms=LINGER_MS, max_batch_size=256 * 1024,
        )
        await self._producer.start()

    async def stop(self) -> None:
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
        """Produce Exposure records; `checked`: they come from `check_exposure` already."""
        await self.send_encoded(self.topics.exposures, encode_records("exposure", records, checked))

    async def send_goals(self, records: Sequence[dict[str, Any]], *, checked: bool = False) -> None:
        """Produce GoalEvent records; `checked`: they come from `check_goal` already."""
        await self.send_encoded(self.topics.events, encode_records("goal_event", records, checked))

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
