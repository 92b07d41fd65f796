"""The main job: one exposure through Kafka into the results store and back."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from infra import Stack
from schemas import decode, encode
from sinks import open_sink
from sinks.migrations import migrate
from sinks.tables import EXPOSURE_COLUMNS, exposure_row
from topology.settings import Settings
from topology.topics import abstream_topics, ensure_topics

CONSUME_TIMEOUT_S = 30.0


def demo_exposure(now_ms: int) -> dict[str, Any]:
    return {
        "event_id": str(uuid.uuid4()),
        "user_id": "demo-user-1",
        "experiment": "checkout_button_color",
        "variant": "green",
        "phase": 1,
        "config_version": 1,
        "timestamp": now_ms,
        "received_at": now_ms,
        "attributes": {"platform": "web"},
        "source": "demo",
        "override": False,
    }


async def round_trip(
    bootstrap: str, topic: str, exposure: dict[str, Any]
) -> tuple[str, dict[str, Any]]:
    """Produce `exposure` keyed by user_id, read it back; returns (position, record)."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", enable_idempotence=True)
    await producer.start()
    try:
        sent = await producer.send_and_wait(
            topic, encode("exposure", exposure), key=exposure["user_id"].encode()
        )
    finally:
        await producer.stop()
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        partition = TopicPartition(topic, sent.partition)
        consumer.assign([partition])
        consumer.seek(partition, sent.offset)
        message = await asyncio.wait_for(consumer.getone(), CONSUME_TIMEOUT_S)
    finally:
        await consumer.stop()
    return f"{topic}[{sent.partition}]@{sent.offset}", decode("exposure", message.value)


def needed_services(settings: Settings) -> list[str]:
    """Kafka always; the local ClickHouse server only when it is the results store."""
    uses_local_server = settings.manages_clickhouse and (
        settings.results_sink_url == settings.clickhouse_server_url
    )
    return ["kafka", "clickhouse"] if uses_local_server else ["kafka"]


def run_demo(
    settings: Settings, keep_running: bool = False, say: Callable[[str], None] = print
) -> dict[str, Any]:
    """Run the demo and return the row read back from the results store."""
    stack = Stack(settings)
    started: list[str] = []
    try:
        for name, seconds in stack.up(needed_services(settings)).items():
            if seconds is not None:
                started.append(name)
            say(f"{name:<10} ready" + (f" (started in {seconds:.1f} s)" if seconds else ""))
        specs = abstream_topics(settings.topic_partitions, settings.topics)
        created = asyncio.run(ensure_topics(settings.bootstrap_servers, specs))
        say(f"{'topics':<10} ready" + (f" (created {', '.join(created)})" if created else ""))
        position, exposure = asyncio.run(
            round_trip(settings.bootstrap_servers, settings.topics.exposures,
                       demo_exposure(int(time.time() * 1000)))
        )
        say(f"{'kafka':<10} produced and consumed {position}")
        with open_sink(settings.results_sink_url) as sink:
            migrate(sink)
            sink.insert("exposures_raw", EXPOSURE_COLUMNS, [exposure_row(exposure)])
            (row,) = sink.query(
                f"SELECT {', '.join(EXPOSURE_COLUMNS)} FROM {sink.database}.exposures_raw FINAL"
                " WHERE event_id = %(event_id)s",
                {"event_id": exposure["event_id"]},
            )
        result = dict(zip(EXPOSURE_COLUMNS, row, strict=True))
        say(f"{'sink':<10} {settings.results_sink_url}")
        say("row read back from exposures_raw:")
        for column, value in result.items():
            say(f"  {column:<15} {value}")
        return result
    finally:
        if started and not keep_running:
            stack.down(started)
            say(f"stopped {', '.join(started)}")
