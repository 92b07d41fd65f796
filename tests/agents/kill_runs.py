"""A worker of its own, traffic posted to its intake in batches, and the store checked.

For the tests that kill, restart and mislead one worker: the results it writes to
ClickHouse must end equal to what was accepted, exactly.
"""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiokafka import AIOKafkaConsumer, TopicPartition

from abstream.admin_client import ApiError
from abstream.worker_process import WorkerProcess
from schemas.events import check_exposure, check_goal
from sinks import SinkError, open_sink
from sinks.totals import variant_totals
from tests.agents.test_pipeline import create_experiment
from tests.servers import TEST_PORTS, Servers
from tests.workers import INTAKE_HEADERS, api_tokens, results_url
from topology.producer import EventProducer
from topology.settings import load_settings
from topology.topics import TopicNames, describe_topic

SETTLE_S = 120


@dataclass
class KillRun:
    """One experiment's users, exposed to a or b in turn, each with goals added in rounds."""

    servers: Servers
    port: int
    log_file: Path
    users: int = 40
    prefix: str = field(default_factory=lambda: f"kill-{uuid.uuid4().hex[:8]}")
    goals: dict[str, int] = field(default_factory=dict)  # user → goals accepted

    def __post_init__(self) -> None:
        self.key = self.prefix.replace("-", "_")
        self.names = TopicNames(self.prefix)
        self.sink_url = results_url(self.servers)
        env = {"ABSTREAM_STACK": "test", "ABSTREAM_KAFKA_BOOTSTRAP": self.servers.bootstrap,
               "ABSTREAM_TOPIC_PREFIX": self.prefix, "ABSTREAM_TOPIC_PARTITIONS": "2",
               "ABSTREAM_API_TOKENS": api_tokens(), "ABSTREAM_SINK_URL": self.sink_url,
               "ABSTREAM_KAFKA_SESSION_TIMEOUT_S": "6", "ABSTREAM_COMMIT_INTERVAL_S": "1",
               **{f"ABSTREAM_{k.upper()}": str(v) for k, v in TEST_PORTS.items()}}
        self.worker = WorkerProcess(self.port, env, self.log_file)
        self.at = int(time.time() * 1000) - 3_600_000

    def user(self, i: int) -> str:
        return f"{self.key}-u{i}"

    def open(self) -> None:
        """Start the worker and create the experiment."""
        self.worker.start()
        self.create_experiment()

    def create_experiment(self) -> None:
        """As soon as the worker takes config writes (it answers 503 until it has read
        the config log)."""
        deadline = time.monotonic() + 30
        while True:
            try:
                return create_experiment(self.worker, self.key)
            except ApiError as exc:
                if exc.status != 503 or time.monotonic() > deadline:
                    raise
            time.sleep(0.1)

    def batches(self, rounds: int, size: int = 20) -> list[tuple[str, list[dict[str, Any]]]]:
        """The posts of every user's exposure, then `rounds` goals each, `size` a post."""
        posts: list[tuple[str, list[dict[str, Any]]]] = []
        exposures = [{"event_id": f"{self.user(i)}-x", "user_id": self.user(i),
                      "experiment": self.key, "variant": "ab"[i % 2], "timestamp": self.at}
                     for i in range(self.users) if self.user(i) not in self.goals]
        for i in range(self.users):
            self.goals.setdefault(self.user(i), 0)
        posts += [("/exposures", exposures[j:j + size]) for j in range(0, len(exposures), size)]
        goals = []
        for _ in range(rounds):
            for i in range(self.users):
                user, n = self.user(i), self.goals[self.user(i)]
                goals.append({"event_id": f"{user}-g{n}", "user_id": user, "name": "purchase",
                              "timestamp": self.at + 1000 + n})
                self.goals[user] = n + 1
        posts += [("/events", goals[j:j + size]) for j in range(0, len(goals), size)]
        return posts

    async def post(self, posts: list[tuple[str, list[dict[str, Any]]]]) -> None:
        async with aiohttp.ClientSession() as session:
            for path, events in posts:
                async with session.post(self.worker.url + path, json=events,
                                        headers=INTAKE_HEADERS) as answer:
                    body = await answer.json()
                    assert answer.status == 200 and body["accepted"] == len(events), body

    async def produce(self, posts: list[tuple[str, list[dict[str, Any]]]]) -> None:
        """The same events straight to Kafka in batch records, while no worker runs."""
        producer = EventProducer(self.servers.bootstrap, self.names)
        await producer.start()
        now = int(time.time() * 1000)
        try:
            for path, events in posts:
                if path == "/exposures":
                    await producer.send_exposures([check_exposure(e, now) for e in events],
                                                  checked=True)
                else:
                    await producer.send_goals([check_goal(e, now) for e in events],
                                              checked=True)
        finally:
            await producer.stop()

    def expected(self) -> dict[str, tuple[int, float]]:
        return {v: (len([i for i in range(self.users) if "ab"[i % 2] == v]),
                    float(sum(n for i, n in enumerate(self.goals.values()) if "ab"[i % 2] == v)))
                for v in "ab"}

    async def settled(self) -> tuple[Any, Any]:
        """(found, wanted): what user_metrics, exposures_raw and events_raw hold once they
        hold exactly what was accepted, or after SETTLE_S."""
        want = (self.expected(), self.users, sum(self.goals.values()))
        found: Any = None
        deadline = time.monotonic() + SETTLE_S
        with open_sink(self.sink_url) as sink:
            db = sink.database
            raw = (f"SELECT (SELECT count() FROM {db}.exposures_raw FINAL),"
                   f" (SELECT count() FROM {db}.events_raw FINAL)")
            while found != want and time.monotonic() < deadline:
                try:
                    totals = {t.variant: (t.n, t.sum_x) for t in variant_totals(sink, self.key)}
                    found = (totals, *sink.query(raw)[0])
                except SinkError:  # the worker has not created the tables yet
                    pass
                if found != want:
                    await asyncio.sleep(0.5)
        return found, want

    async def move_group_offsets(self, to: str) -> None:
        """With the worker stopped, commit the group's offsets of every topic it reads
        to their `beginning` or `end`."""
        names = self.names
        topics = (names.exposures, names.events, names.facts, names.deadletter,
                  names.config_audit)
        consumer = AIOKafkaConsumer(bootstrap_servers=self.servers.bootstrap,
                                    group_id=self.prefix, enable_auto_commit=False)
        await consumer.start()
        try:
            tps = [TopicPartition(t, p) for t in topics
                   for p in range((await describe_topic(self.servers.bootstrap, t))[0])]
            consumer.assign(tps)
            where = consumer.beginning_offsets if to == "beginning" else consumer.end_offsets
            offsets = dict(await where(tps))
            await consumer.commit(offsets)
            assert {tp: await consumer.committed(tp) for tp in tps} == offsets
        finally:
            await consumer.stop()

    def close(self) -> None:
        self.worker.stop()
        shutil.rmtree(load_settings(stack="test", topic_prefix=self.prefix).worker_dir.parent,
                      ignore_errors=True)
        try:
            with open_sink(self.sink_url) as sink:
                sink.command(f"DROP DATABASE IF EXISTS {sink.database}")
        except SinkError:
            pass
