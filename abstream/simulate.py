"""The simulator's I/O: send simulated traffic, wait for the worker, read what it wrote.

`experiments.simulation` draws the traffic and its ground truth; this module
sends the deliveries to Kafka (or through a worker's HTTP API), waits until the
workers have processed and written everything, and reads the per-variant totals
back from the results store to compare with the truth.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from abstream.admin_client import AdminClient
from experiments.simulation import Delivery
from sinks.base import Sink
from sinks.totals import variant_totals
from topology.producer import EventProducer
from topology.topics import TopicNames

SEND_CHUNK = 5_000  # deliveries handed to the producer before waiting for acknowledgements
API_BATCH = 1_000  # events per intake request (the intake's default limit)


class Progress:
    """A one-line progress bar on a terminal; a line per tenth elsewhere (logs, CI)."""

    def __init__(self, label: str, total: int, stream: TextIO = sys.stderr) -> None:
        self.label, self.total, self.stream = label, max(total, 1), stream
        self.tty = stream.isatty()
        self.started = time.monotonic()
        self.shown_tenth = -1

    def update(self, done: int) -> None:
        share = min(done / self.total, 1.0)
        elapsed = time.monotonic() - self.started
        text = f"{self.label:<10} {done:>9,} / {self.total:,}  {share:6.1%}  {elapsed:5.1f} s"
        if self.tty:
            bar = "#" * int(share * 30)
            self.stream.write(f"\r{self.label:<10} [{bar:<30}] {text[11:]}")
            self.stream.flush()
        elif int(share * 10) > self.shown_tenth:
            self.shown_tenth = int(share * 10)
            self.stream.write(text + "\n")

    def close(self) -> None:
        if self.tty:
            self.stream.write("\n")


async def send_to_kafka(bootstrap: str, topics: TopicNames, deliveries: Sequence[Delivery],
                        progress: Callable[[int], None] = lambda done: None) -> None:
    """Produce every delivery in order, keyed by user_id; returns once Kafka has them all."""
    producer = EventProducer(bootstrap, topics)
    await producer.start()
    try:
        await send_deliveries(producer, deliveries, progress)
    finally:
        await producer.stop()


async def send_deliveries(producer: EventProducer, deliveries: Sequence[Delivery],
                          progress: Callable[[int], None] = lambda done: None) -> None:
    """`send_to_kafka` with a producer that is already started."""
    for start in range(0, len(deliveries), SEND_CHUNK):
        chunk = deliveries[start:start + SEND_CHUNK]
        exposures, goals = _split(chunk, received_at=int(time.time() * 1000))
        # The simulator's records are well-formed by construction: skip the per-record check.
        await asyncio.gather(producer.send_exposures(exposures, checked=True),
                             producer.send_goals(goals, checked=True))
        progress(start + len(chunk))


def send_to_api(client: AdminClient, deliveries: Sequence[Delivery],
                progress: Callable[[int], None] = lambda done: None) -> None:
    """POST every delivery to a worker's intake, in batches, in order."""
    for start in range(0, len(deliveries), API_BATCH):
        chunk = deliveries[start:start + API_BATCH]
        for path, records in zip(("/exposures", "/events"), _split(chunk), strict=True):
            if records:
                _, answer = client.request("POST", path, records)
                if answer.get("rejected"):
                    raise RuntimeError(f"the intake refused simulated events: {answer}")
        progress(start + len(chunk))


def _split(deliveries: Sequence[Delivery], received_at: int | None = None
           ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Exposures and goals, each in delivery order (Kafka orders each topic on its own).

    `received_at` stamps them as the intake would; None leaves it to the intake."""
    split: dict[str, list[dict[str, Any]]] = {"exposure": [], "goal_event": []}
    for delivery in deliveries:
        record = dict(delivery.record)
        if received_at is None:
            del record["received_at"]
        else:
            record["received_at"] = received_at
        split[delivery.kind].append(record)
    return split["exposure"], split["goal_event"]


async def wait_until_processed(
    bootstrap: str, group: str, topics: TopicNames, timeout_s: float = 600.0,
    progress: Callable[[int, int], None] = lambda done, total: None, facts: bool = True,
) -> float:
    """Wait until `group` has committed the end of its inputs and (`facts`) of the facts
    it made.

    The workers commit an input only after the join applied it and its facts were
    flushed to Kafka, and a fact only after the results store has it: once every
    committed offset is at the end, the store holds everything. Returns the seconds
    waited.
    """
    started = time.monotonic()
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        inputs = [topics.exposures, topics.events]
        while True:
            # Read the ends of the facts after the inputs are done: no new facts come then.
            ends = await _end_offsets(admin, consumer, inputs)
            committed = await admin.list_consumer_group_offsets(group)
            done = sum(min(_offset(committed, tp), end) for tp, end in ends.items())
            total = sum(ends.values())
            progress(done, total)
            if done == total and not facts:
                return time.monotonic() - started
            if done == total:
                fact_ends = await _end_offsets(admin, consumer, [topics.facts])
                committed = await admin.list_consumer_group_offsets(group)
                if all(_offset(committed, tp) >= end for tp, end in fact_ends.items()):
                    return time.monotonic() - started
            if time.monotonic() - started > timeout_s:
                raise TimeoutError(f"group {group} has not caught up after {timeout_s:.0f} s: "
                                   f"{done:,} of {total:,} input messages committed")
            await asyncio.sleep(0.5)
    finally:
        await consumer.stop()
        await admin.close()


async def _end_offsets(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer,
                       topics: Sequence[str]) -> dict[TopicPartition, int]:
    partitions = [TopicPartition(topic, p) for topic in topics
                  for p in await _partitions(admin, topic)]
    return await consumer.end_offsets(partitions)


async def _partitions(admin: AIOKafkaAdminClient, topic: str) -> list[int]:
    for _ in range(50):
        (metadata,) = await admin.describe_topics([topic])
        if metadata["partitions"]:
            return sorted(p["partition"] for p in metadata["partitions"])
        await asyncio.sleep(0.1)
    raise RuntimeError(f"topic {topic} has no partitions")


def _offset(committed: dict[TopicPartition, Any], partition: TopicPartition) -> int:
    found = committed.get(partition)
    return found.offset if found is not None and found.offset >= 0 else 0


def store_totals(sink: Sink, truth: dict[str, Any]) -> dict[tuple[str, str, str], dict]:
    """The results store's sums for the truth's experiments, in the truth's phases."""
    found: dict[tuple[str, str, str], dict] = {}
    for experiment, part in truth["experiments"].items():
        for t in variant_totals(sink, experiment):
            if t.phase == part["phase"]:
                found[experiment, t.variant, t.metric] = {
                    "n": t.n, "sum_x": t.sum_x, "sum_x2": t.sum_x2, "sum_y": t.sum_y,
                    "sum_y2": t.sum_y2, "sum_xy": t.sum_xy, "sum_d": t.sum_d}
    return found


def write_truth(path: Path, truth: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n", encoding="utf-8")
