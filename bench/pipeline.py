"""Throughput of the streaming join against two floors, and across two workers.

    python -m bench.pipeline [--users 10000] [--goals 4] [--rounds 3]

Each round fills a fresh topic namespace (4 partitions) with one exposure and
`--goals` goal events per user, then reads all of it three times, one after
another:

1. a bare aiokafka consumer loop (the floor of the client);
2. a Faust agent that only decodes (the floor of Faust itself);
3. a worker running the full join (decode, dedup, user state, facts out),
   timed by its `abstream_events_in_total` metric;

Then scaling: one worker, and then two workers sharing the consumer group, are
started on an empty namespace and timed while the same events are produced
after they are ready (the producer shares the cores, alike in both runs); and one
worker fed the same events packed into batch records, as `EventProducer` and the
intake produce them.

Last, in this process, the pure `JoinProcessor` over in-memory states on the demo's
traffic (`bench.join_core`, events per second of CPU time). Prints the median
events/s of each over the rounds and the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from abstream.worker import collect_garbage_less_often
from abstream.worker_process import WorkerProcess
from bench.join_core import pure_core
from experiments.exposures import exposure_event
from infra import Stack
from topology.producer import EventProducer, encode_records
from topology.settings import load_settings
from topology.topics import TopicNames, abstream_topics, ensure_topics

PORT = 26466
PARTITIONS = 4


async def fill(bootstrap: str, names: TopicNames, users: int, goals: int,
               batched: bool = False) -> tuple[int, int]:
    """(records, events) produced: one event a record, or batch records as the producer
    packs them (`batched`)."""
    await ensure_topics(bootstrap, abstream_topics(PARTITIONS, names))
    producer = EventProducer(bootstrap, names)
    await producer.start()
    now = int(time.time() * 1000) - 3_600_000
    try:
        for start in range(0, users, 5000):
            chunk = range(start, min(users, start + 5000))
            exposures = [exposure_event(
                event_id=f"x{i}", user_id=f"u{i}", experiment="bench", variant="a", phase=1,
                config_version=1, timestamp=now, attributes={}, source="bench")
                for i in chunk]
            goals_ = [{"event_id": f"g{i}-{j}", "user_id": f"u{i}", "name": "purchase",
                       "value": 1.0, "timestamp": now + 1000 + j, "received_at": now,
                       "attributes": {}} for i in chunk for j in range(goals)]
            if batched:
                await producer.send_exposures(exposures, checked=True)
                await producer.send_goals(goals_, checked=True)
            else:
                await producer.send_encoded(names.exposures,
                                            encode_records("exposure", exposures, True))
                await producer.send_encoded(names.events,
                                            encode_records("goal_event", goals_, True))
    finally:
        await producer.stop()
    return await _records(bootstrap, names), users * (1 + goals)


async def _records(bootstrap: str, names: TopicNames) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap)
    await consumer.start()
    try:
        ends = await consumer.end_offsets([TopicPartition(t, p) for t in (
            names.exposures, names.events) for p in range(PARTITIONS)])
        return sum(ends.values())
    finally:
        await consumer.stop()


async def bare_aiokafka(bootstrap: str, names: TopicNames, expected: int) -> float:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                max_partition_fetch_bytes=4 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = [TopicPartition(t, p) for t in (names.exposures, names.events)
                      for p in range(PARTITIONS)]
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


def consume_rate(workers: list[WorkerProcess], expected: int) -> float:
    """Events/s the workers read together, from their first event to the `expected`-th."""
    first = None
    while True:
        consumed = sum(events_in(worker) for worker in workers)
        if consumed and first is None:
            first = (time.perf_counter(), consumed)
        if consumed >= expected:
            return (consumed - first[1]) / (time.perf_counter() - first[0])
        time.sleep(0.05)


def full_pipeline(prefix: str, expected: int, logs: Path) -> float:
    worker = WorkerProcess(PORT, worker_env(prefix), logs / "worker.log")
    worker.start()
    try:
        return consume_rate([worker], expected)
    finally:
        worker.stop()


def scaling(bootstrap: str, count: int, users: int, goals: int, logs: Path,
            batched: bool = False) -> float:
    """Events/s of `count` workers started on an empty namespace, then fed."""
    prefix = fresh_prefix()
    asyncio.run(ensure_topics(bootstrap, abstream_topics(PARTITIONS, TopicNames(prefix))))
    workers = [WorkerProcess(PORT + 2 * i, worker_env(prefix),
                             logs / f"worker-{i}.log") for i in range(count)]
    try:
        for worker in workers:
            worker.start()
        wait_until_assigned(bootstrap, prefix, count)
        _, expected = asyncio.run(fill(bootstrap, TopicNames(prefix), users, goals, batched))
        return consume_rate(workers, expected)
    finally:
        for worker in workers:
            worker.stop()
        remove_state(prefix)


def wait_until_assigned(bootstrap: str, group: str, members: int) -> None:
    """Until the workers' consumer group is stable with all of them in it."""
    async def stable() -> bool:
        admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
        await admin.start()
        try:
            (response,) = await admin.describe_consumer_groups([group])
            (described,) = response.groups
            return described[2] == "Stable" and len(described[5]) == members
        finally:
            await admin.close()

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if asyncio.run(stable()):
            time.sleep(2)  # the assignment's table recovery, before events arrive
            return
        time.sleep(0.5)
    raise RuntimeError(f"consumer group {group} not stable with {members} members")


def events_in(worker: WorkerProcess) -> int:
    with urllib.request.urlopen(f"{worker.url}/metrics") as response:
        text = response.read().decode()
    return int(sum(float(m) for m in re.findall(r"^abstream_events_in_total\{.*\} (\S+)",
                                                  text, re.MULTILINE)))


def worker_env(prefix: str) -> dict[str, str]:
    """The join alone: writing results is another stage, measured on its own."""
    return {"ABSTREAM_TOPIC_PREFIX": prefix, "ABSTREAM_WRITE_RESULTS": "false"}


def fresh_prefix() -> str:
    return f"benchjoin-{uuid.uuid4().hex[:8]}"


def remove_state(prefix: str) -> None:
    shutil.rmtree(load_settings(topic_prefix=prefix).worker_dir.parent, ignore_errors=True)


def one_round(bootstrap: str, users: int, goals: int) -> dict[str, float]:
    prefix = fresh_prefix()
    names = TopicNames(prefix)
    try:
        records, expected = asyncio.run(fill(bootstrap, names, users, goals))
        rates = {"bare aiokafka": asyncio.run(bare_aiokafka(bootstrap, names, records)),
                 "Faust, decode only": faust_floor(prefix, records)}
        with tempfile.TemporaryDirectory() as logs:
            rates["full join, 1 worker"] = full_pipeline(prefix, expected, Path(logs))
            rates["fed live, 1 worker"] = scaling(bootstrap, 1, users, goals, Path(logs))
            # Pre-filled batch records are read before the worker reports ready: fed live.
            rates["fed live, batch records, 1 worker"] = scaling(
                bootstrap, 1, users, goals, Path(logs), batched=True)
            rates["fed live, 2 workers"] = scaling(bootstrap, 2, users, goals, Path(logs))
        # The same process's CPU time: the join's core alone, on the demo's traffic.
        rates["pure JoinProcessor, in memory"] = pure_core(users)
        return rates
    finally:
        remove_state(prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--goals", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings()
    collect_garbage_less_often()  # as the worker does, for the pure core's round
    started = [n for n, s in Stack(settings).up(["kafka"]).items() if s is not None]
    try:
        rounds = [one_round(settings.bootstrap_servers, args.users, args.goals)
                  for _ in range(args.rounds)]
    finally:
        Stack(settings).down(started)
    rates = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
    events = args.users * (1 + args.goals)
    print(f"{events} events ({args.users} users, 1 exposure and {args.goals} goals each), "
          f"{PARTITIONS} partitions; medians of {args.rounds} rounds")
    floor = rates["Faust, decode only"]
    for name, rate in rates.items():
        print(f"{name:<34} {rate:>9.0f} events/s   {rate / floor:>5.2f}x the Faust floor")
    ratios = [r["full join, 1 worker"] / r["Faust, decode only"] for r in rounds]
    scale = [r["fed live, 2 workers"] / r["fed live, 1 worker"] for r in rounds]
    print(f"full join / Faust floor, per round: {', '.join(f'{x:.2f}' for x in ratios)}")
    print(f"2 workers / 1 worker, per round:    {', '.join(f'{x:.2f}' for x in scale)}")


if __name__ == "__main__":
    main()
