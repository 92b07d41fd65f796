"""Batch records in real workers: the intake packs them, single records mix in."""

from __future__ import annotations

import time
import uuid
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaProducer

from abstream.worker_process import WorkerProcess
from schemas import current_registry, event_reader
from tests.agents.test_pipeline import create_experiment, facts_of
from tests.kafka_reading import read_topic
from tests.workers import INTAKE_HEADERS
from topology.packing import partition_of
from topology.producer import EventProducer, encode_records
from topology.topics import TopicNames

pytestmark = pytest.mark.infra


async def post(worker: WorkerProcess, path: str, events: list[dict[str, Any]]) -> None:
    headers = {**INTAKE_HEADERS, "Content-Type": "application/json"}
    async with (aiohttp.ClientSession() as session,
                session.post(worker.url + path, json=events, headers=headers) as response):
        assert (await response.json())["accepted"] == len(events)


async def test_intake_batches_and_single_records_join_alike(workers: list[WorkerProcess],
                                                            servers: Any) -> None:
    key = f"batches_{uuid.uuid4().hex[:8]}"
    create_experiment(workers[0], key)
    names = TopicNames(workers[0].env["ABSTREAM_TOPIC_PREFIX"])
    users, now = [f"{key}-u{i}" for i in range(8)], int(time.time() * 1000)

    def did(user: str, n: int) -> dict[str, Any]:
        return {"event_id": f"{user}-g{n}", "user_id": user, "name": "purchase",
                "value": 1.0, "timestamp": now + 1000, "received_at": now + 1000,
                "attributes": {}}

    await post(workers[0], "/exposures", [{"event_id": f"{u}-x", "user_id": u, "experiment": key,
                                           "variant": "ab"[i % 2], "timestamp": now}
                                          for i, u in enumerate(users)])
    await post(workers[1], "/events", [did(u, n) for u in users for n in range(2)])
    producer = EventProducer(servers.bootstrap, names)
    await producer.start()
    try:  # single-event records, placed by the client's own default partitioner
        await producer.send_encoded(names.events, encode_records(
            "goal_event", [did(u, 2) for u in users[:4]]))
        # the intake's goals again, batched by the producer: duplicates, counted once
        await producer.send_goals([did(u, n) for u in users for n in range(2)])
    finally:
        await producer.stop()
    expected = {u: 3.0 if i < 4 else 2.0 for i, u in enumerate(users)}
    mine = await facts_of(servers, workers[0], key, expected)
    assert {u: f["values"]["n"] for u, f in mine.items()} == expected
    assert {mine[u]["variant"] for u in users[:2]} == {"a", "b"}
    await _assert_packed_by_partition(servers.bootstrap, names.exposures, key)


async def _assert_packed_by_partition(bootstrap: str, topic: str, marker: str) -> None:
    """The intake's exposures are in one batch record per partition, each where its
    users belong."""
    read = event_reader("exposure", current_registry())
    client = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await client.start()
    try:
        count = len(await client.partitions_for(topic))
    finally:
        await client.stop()
    records = [r for r in await read_topic(bootstrap, topic) if marker.encode() in r.value]
    assert len(records) == len({r.partition for r in records}) >= 2
    for record in records:
        events, is_batch = read(record.value)
        assert is_batch and record.key == events[0]["user_id"].encode()
        assert {partition_of(e["user_id"].encode(), count) for e in events} == {record.partition}
