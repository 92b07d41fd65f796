"""The repartition step: events keyed any way reach the join keyed by user_id."""

from __future__ import annotations

import time
import uuid

from aiokafka import AIOKafkaProducer

from abstream.worker_process import WorkerProcess
from experiments.exposures import exposure_event
from schemas import decode, encode
from tests.agents.test_pipeline import create_experiment, facts_of
from tests.kafka_reading import read_topic
from topology.topics import TopicNames

USERS = 20


async def test_unkeyed_events_are_rekeyed_and_joined(workers: list[WorkerProcess],
                                                     servers: object) -> None:
    key = f"unkeyed_{uuid.uuid4().hex[:8]}"
    create_experiment(workers[0], key)
    names = TopicNames(workers[0].env["ABSTREAM_TOPIC_PREFIX"])
    now = int(time.time() * 1000) - 60_000
    producer = AIOKafkaProducer(bootstrap_servers=servers.bootstrap)
    await producer.start()
    try:
        for i in range(USERS):
            user = f"{key}-u{i}"
            # The wrong partition on purpose, with a key that is not the user's.
            await producer.send_and_wait(names.exposures_unkeyed, encode("exposure", exposure_event(
                event_id=f"{user}-x", user_id=user, experiment=key, variant="a", phase=1,
                config_version=1, timestamp=now, attributes={}, source="test")),
                key=b"session-1", partition=(i + 1) % 2)
            for j in range(2):
                await producer.send_and_wait(names.events_unkeyed, encode("goal_event", {
                    "event_id": f"{user}-g{j}", "user_id": user, "name": "purchase",
                    "value": 1.0, "timestamp": now + 1000 + j, "received_at": now,
                    "attributes": {}}), partition=i % 2)
        await producer.send_and_wait(names.events_unkeyed, b"not avro", partition=0)
    finally:
        await producer.stop()

    expected = {f"{key}-u{i}": 2.0 for i in range(USERS)}
    facts = await facts_of(servers, workers[0], key, expected)
    assert {user: fact["values"]["n"] for user, fact in facts.items()} == expected
    letters = [decode("dead_letter", r.value)
               for r in await read_topic(servers.bootstrap, names.deadletter)]
    assert any(letter["source"] == "repartition" and letter["payload"] == b"not avro"
               and letter["topic"] == names.events_unkeyed for letter in letters)
