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

from schemas import encode
from topology.topics import TopicNames

LINGER_MS = 5  # wait this long to fill a batch: more throughput for little latency


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
        await self._send_all(self.topics.exposures, "exposure", records, checked)

    async def send_goals(self, records: Sequence[dict[str, Any]], *, checked: bool = False) -> None:
        """Produce GoalEvent records; `checked`: they come from `check_goal` already."""
        await self._send_all(self.topics.events, "goal_event", records, checked)

    async def send_dead_letters(
        self, topic: str, source: str, failures: Iterable[tuple[bytes | None, bytes, str]]
    ) -> None:
        """Dead-letter (key, raw payload, reason) triples that were headed for `topic`."""
        now = int(time.time() * 1000)
        letters = [{"topic": topic, "key": key, "payload": payload, "error": error,
                    "received_at": now, "source": source} for key, payload, error in failures]
        futures = [await self._client.send(self.topics.deadletter,
                                             encode("dead_letter", letter), key=letter["key"])
                   for letter in letters]
        await asyncio.gather(*futures)

    async def _send_all(
        self, topic: str, schema: str, records: Sequence[dict[str, Any]], checked: bool
    ) -> None:
        """Send every record and return once Kafka acknowledged them all (or raise)."""
        futures = [await self._client.send(topic, encode(schema, record, validate=not checked),
                                           key=record["user_id"].encode())
                   for record in records]
        await asyncio.gather(*futures)
