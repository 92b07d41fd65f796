from __future__ import annotations

import pytest
from aiokafka import AIOKafkaProducer

from schemas import decode, encode
from tests.kafka_reading import read_topic
from tests.schemas.test_codec import EXAMPLES
from tests.servers import Servers
from topology.topics import TopicSpec, ensure_topics

pytestmark = pytest.mark.infra


async def test_every_schema_round_trips_through_the_broker(
    servers: Servers, unique_name: str
) -> None:
    await ensure_topics(servers.bootstrap, [TopicSpec(unique_name, 1)])
    producer = AIOKafkaProducer(bootstrap_servers=servers.bootstrap, acks="all")
    await producer.start()
    try:
        for name, record in sorted(EXAMPLES.items()):
            await producer.send_and_wait(unique_name, encode(name, record), key=name.encode())
    finally:
        await producer.stop()
    received = {r.key.decode(): decode(r.key.decode(), r.value)
                for r in await read_topic(servers.bootstrap, unique_name)}
    assert received == EXAMPLES
