from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from infra.kafka import broker_properties
from tests.servers import Servers
from topology.topics import TopicSpec, ensure_topics


def test_broker_properties_bind_loopback_and_keep_one_replica() -> None:
    text = broker_properties(port=1234, controller_port=1235, data_dir=Path("/d"))
    props = dict(line.split("=", 1) for line in text.splitlines() if line)
    assert props["listeners"] == "PLAINTEXT://127.0.0.1:1234,CONTROLLER://127.0.0.1:1235"
    assert props["advertised.listeners"] == "PLAINTEXT://127.0.0.1:1234"
    assert props["auto.create.topics.enable"] == "false"
    assert props["log.dirs"] == "/d"
    for key in ("offsets.topic.replication.factor", "transaction.state.log.replication.factor",
                "transaction.state.log.min.isr"):
        assert props[key] == "1"


@pytest.mark.infra
async def test_produce_consume_round_trip_keeps_each_key_on_one_partition(
    servers: Servers, unique_name: str
) -> None:
    await ensure_topics(servers.bootstrap, [TopicSpec(unique_name, partitions=3)])
    sent: dict[bytes, set[int]] = {}
    producer = AIOKafkaProducer(
        bootstrap_servers=servers.bootstrap, acks="all", enable_idempotence=True
    )
    await producer.start()
    try:
        for i in range(60):
            key = f"user-{i % 7}".encode()
            meta = await producer.send_and_wait(unique_name, f"v{i}".encode(), key=key)
            sent.setdefault(key, set()).add(meta.partition)
    finally:
        await producer.stop()
    assert all(len(partitions) == 1 for partitions in sent.values())

    consumer = AIOKafkaConsumer(
        bootstrap_servers=servers.bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        consumer.assign([TopicPartition(unique_name, p) for p in range(3)])
        received: list[tuple[bytes, bytes]] = []
        while len(received) < 60:
            batch = await asyncio.wait_for(consumer.getmany(timeout_ms=1000), 30)
            for records in batch.values():
                received.extend((r.key, r.value) for r in records)
    finally:
        await consumer.stop()
    assert sorted(value for _, value in received) == sorted(f"v{i}".encode() for i in range(60))
    per_key = [int(v[1:]) for k, v in received if k == b"user-3"]
    assert per_key == sorted(per_key)  # order is kept within a key
