"""Throughput of the streaming join against two floors, on the same pre-filled topics.

    python -m bench.pipeline [--users 20000] [--goals 4]

Fills a fresh topic namespace with one exposure and `--goals` goal events per
user, then reads all of it three times, one after another:

1. a bare aiokafka consumer loop (the floor of the client);
2. a Faust agent that only decodes (the floor of Faust itself);
3. a worker running the full join (decode, dedup, user state, facts out),
   timed by its `abstream_events_in_total` metric.

Prints events/s of each and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition

from infra import Stack
from infra.worker_process import WorkerProcess
from topology.producer import EventProducer
from topology.settings import load_settings
from topology.topics import TopicNames, abstream_topics, ensure_topics

PORT = 26466


async def fill(bootstrap: str, names: TopicNames, users: int, goals: int) -> int:
    await ensure_topics(bootstrap, abstream_topics(4, names))
    producer = EventProducer(bootstrap, names)
    await producer.start()
    now = int(time.time() * 1000) - 3_600_000
    try:
        for start in range(0, users, 5000):
            chunk = range(start, min(users, start + 5000))
            await producer.send_exposures([{
                "event_id": f"x{i}", "user_id": f"u{i}", "experiment": "bench", "variant": "a",
                "phase": 1, "config_version": 1, "timestamp": now, "received_at": now,
                "attributes": {}, "source": "bench", "override": False} for i in chunk],
                checked=True)
            await producer.send_goals([{
                "event_id": f"g{i}-{j}", "user_id": f"u{i}", "name": "purchase", "value": 1.0,
                "timestamp": now + 1000 + j, "received_at": now, "attributes": {}}
                for i in chunk for j in range(goals)], checked=True)
    finally:
        await producer.stop()
    return users * (1 + goals)


async def bare_aiokafka(bootstrap: str, names: TopicNames, expected: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in (names.exposures, names.events)
                      for p in range(4)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        count, start = 0, time.perf_counter()
        while count < expected:
            for batch in (await consumer.getmany(timeout_ms=500, max_records=10_000)).values():
                count += len(batch)
        return expected / (time.perf_counter() - start)
    finally:
        await consumer.stop()


def faust_floor(prefix: str, expected: int) -> float:
    output = subprocess.run(
        [sys.executable, "-m", "bench.faust_floor", prefix, str(expected), str(PORT + 1)],
        capture_output=True, text=True, timeout=600,
    ).stdout
    return float(re.search(r"RATE (\d+)", output).group(1))


def full_pipeline(prefix: str, expected: int, logs: Path) -> float:
    worker = WorkerProcess(PORT, {"ABSTREAM_TOPIC_PREFIX": prefix}, logs / "worker.log")
    worker.start()
    try:
        first = None
        while True:
            consumed = _events_in(worker)
            if consumed and first is None:
                first = (time.perf_counter(), consumed)
            if consumed >= expected:
                return (consumed - first[1]) / (time.perf_counter() - first[0])
            time.sleep(0.05)
    finally:
        worker.stop()


def _events_in(worker: WorkerProcess) -> int:
    with urllib.request.urlopen(f"{worker.url}/metrics") as response:
        text = response.read().decode()
    return int(sum(float(m) for m in re.findall(r"^abstream_events_in_total\{.*\} (\S+)",
                                                  text, re.MULTILINE)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--goals", type=int, default=4)
    args = parser.parse_args()
    settings = load_settings()
    started = [n for n, s in Stack(settings).up(["kafka"]).items() if s is not None]
    prefix = f"benchjoin-{uuid.uuid4().hex[:8]}"
    names = TopicNames(prefix)
    try:
        expected = asyncio.run(fill(settings.bootstrap_servers, names, args.users, args.goals))
        rates = {"bare aiokafka": asyncio.run(bare_aiokafka(settings.bootstrap_servers, names,
                                                            expected))}
        rates["Faust, decode only"] = faust_floor(prefix, expected)
        with tempfile.TemporaryDirectory() as logs:
            rates["full join (worker)"] = full_pipeline(prefix, expected, Path(logs))
    finally:
        Stack(settings).down(started)
        shutil.rmtree(load_settings(topic_prefix=prefix).worker_dir.parent, ignore_errors=True)
    print(f"{expected} events ({args.users} users, 1 exposure and {args.goals} goals each)")
    floor = rates["Faust, decode only"]
    for name, rate in rates.items():
        print(f"{name:<22} {rate:>9.0f} events/s   {rate / floor:>5.2f}x the Faust floor")


if __name__ == "__main__":
    main()
