"""ClickHouse stopped and restarted while facts flow: the totals end up exact."""

from __future__ import annotations

import asyncio
import os
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from abstream.worker_process import WorkerProcess
from infra import Stack
from sinks import SinkError, open_sink
from sinks.totals import variant_totals
from tests.agents.test_pipeline import create_experiment, latest_facts
from tests.agents.traffic import exposure, goal, metric
from tests.servers import TEST_PORTS, Servers
from tests.workers import api_tokens, results_url
from topology.producer import EventProducer
from topology.settings import Settings, load_settings
from topology.topics import TopicNames

pytestmark = pytest.mark.infra
USERS = 100


async def test_a_store_outage_delays_results_but_loses_nothing(
    servers: Servers, settings: Settings, tmp_path: Path
) -> None:
    # Stopping the server is only possible with the local servers of infra/.
    assert os.environ.get("ABSTREAM_TEST_SERVERS", "local") == "local"
    prefix = f"outage-{uuid.uuid4().hex[:8]}"
    env = {"ABSTREAM_STACK": "test", "ABSTREAM_KAFKA_BOOTSTRAP": servers.bootstrap,
           "ABSTREAM_TOPIC_PREFIX": prefix, "ABSTREAM_TOPIC_PARTITIONS": "2",
           "ABSTREAM_API_TOKENS": api_tokens(),
           "ABSTREAM_SINK_URL": results_url(servers),
           **{f"ABSTREAM_{k.upper()}": str(v) for k, v in TEST_PORTS.items()}}
    worker = WorkerProcess(26566, env, tmp_path / "worker.log")
    worker.start()
    try:
        await _outage(worker, servers, Stack(settings))
    finally:
        Stack(settings).up(["clickhouse"])  # whatever happened, leave it running
        worker.stop()
        shutil.rmtree(load_settings(stack="test", topic_prefix=prefix).worker_dir.parent,
                      ignore_errors=True)


async def _outage(worker: WorkerProcess, servers: Servers, stack: Stack) -> None:
    key = f"outage_{uuid.uuid4().hex[:8]}"
    create_experiment(worker, key)
    names = TopicNames(worker.env["ABSTREAM_TOPIC_PREFIX"])
    producer = EventProducer(servers.bootstrap, names)
    await producer.start()
    now = int(time.time() * 1000) - 60_000
    try:
        await producer.send_exposures([exposure(f"u{i}", key, "ab"[i % 2], now)
                                       for i in range(USERS)])
        half = {"a": USERS // 2, "b": USERS // 2}
        assert await _until_totals(worker, key, half) == half
        stack.down(["clickhouse"])
        await producer.send_goals([goal(f"u{i}", j, now) for i in range(USERS)
                                   for j in range(i % 4)])
        facts = await _until_facts(servers, names.facts, key, USERS * 3 // 2)
        await asyncio.sleep(2)  # the writer keeps failing meanwhile
        assert metric(worker, "abstream_sink_errors_total") > 0
        stack.up(["clickhouse"])
    finally:
        await producer.stop()
    want = {}
    for variant in "ab":
        values = [f["values"]["n"] for f in facts.values() if f["variant"] == variant]
        want[variant] = (len(values), sum(values))
    assert await _until_totals(worker, key, want) == want


async def _until_facts(servers: Servers, topic: str, key: str,
                       total: float) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        facts = {f["user_id"]: f for f in (await latest_facts(servers.bootstrap, topic)).values()
                 if f["experiment"] == key}
        if sum(f["values"]["n"] for f in facts.values()) >= total or time.monotonic() > deadline:
            return facts
        await asyncio.sleep(0.5)


async def _until_totals(worker: WorkerProcess, key: str,
                        want: dict[str, Any]) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    got: dict[str, Any] = {}
    with open_sink(worker.env["ABSTREAM_SINK_URL"]) as sink:
        while got != want and time.monotonic() < deadline:
            try:
                rows = await asyncio.to_thread(variant_totals, sink, key)
                got = {t.variant: (t.n, t.sum_x) if isinstance(want["a"], tuple) else t.n
                       for t in rows}
            except SinkError:  # not created yet, or the server is restarting
                pass
            await asyncio.sleep(0.5)
    return got
