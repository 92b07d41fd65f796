"""Fault injection: simulated traffic with a known answer, and something goes wrong.

Every test runs the demo's experiments on a namespace of its own (topics, worker
state, ClickHouse database), sends simulated users in slices while it injects a
fault, waits until the workers have committed every input and every fact, and
requires the results store's totals to equal the ground truth exactly: every
count and sum, per experiment, variant and metric. Nothing lost, nothing
counted twice.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import shutil
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from abstream.demo import apply_demo_config
from abstream.simulate import send_to_kafka, store_totals, wait_until_processed
from abstream.worker_process import WorkerProcess
from experiments.ground_truth import compare
from experiments.simulation import Simulation, SimulationSpec, simulate
from infra import Stack
from sinks import open_sink
from tests.agents.traffic import metric
from tests.kafka_reading import read_topic
from tests.servers import TEST_PORTS, Servers
from tests.workers import TOKENS, api_tokens, results_url
from topology.settings import Settings, load_settings
from topology.topics import TopicNames

pytestmark = pytest.mark.infra
USERS = 1_500  # about 5,000 events over three experiments
PORTS = (26866, 26867)
SETTLE_S = 240.0


class FaultRun:
    """One namespace: its workers, its traffic and its ground truth."""

    def __init__(self, servers: Servers, logs: Path, **settings: str) -> None:
        self.prefix = f"fault-{uuid.uuid4().hex[:8]}"
        self.servers = servers
        self.env = {"ABSTREAM_STACK": "test", "ABSTREAM_KAFKA_BOOTSTRAP": servers.bootstrap,
                    "ABSTREAM_TOPIC_PREFIX": self.prefix, "ABSTREAM_TOPIC_PARTITIONS": "4",
                    "ABSTREAM_SINK_URL": results_url(servers),
                    "ABSTREAM_API_TOKENS": api_tokens(),
                    "ABSTREAM_KAFKA_SESSION_TIMEOUT_S": "6",
                    "ABSTREAM_COMMIT_INTERVAL_S": "0.5",
                    **{f"ABSTREAM_{k.upper()}": str(v) for k, v in TEST_PORTS.items()},
                    **settings}
        self.workers = [WorkerProcess(port, self.env, logs / f"worker-{port}.log")
                        for port in PORTS]
        self.simulation: Simulation | None = None

    def start(self, index: int = 0) -> WorkerProcess:
        self.workers[index].start()
        return self.workers[index]

    def simulate(self, **spec: Any) -> list[Any]:
        """Apply the demo's experiments through a worker and draw the traffic."""
        running = next(w for w in self.workers if w.process and w.process.poll() is None)
        snapshot = apply_demo_config(running.client(TOKENS["alice"]))
        self.simulation = simulate(snapshot, SimulationSpec(
            users=USERS, seed=random.randrange(1 << 30), now_ms=int(time.time() * 1000),
            effects={("checkout_button_color", "green", "*"): 0.1}, **spec))
        return self.simulation.deliveries

    async def send(self, deliveries: list[Any]) -> None:
        await send_to_kafka(self.servers.bootstrap, TopicNames(self.prefix), deliveries)

    async def settle(self) -> list[dict[str, Any]]:
        """Wait until everything is processed and written; the comparison rows."""
        await wait_until_processed(self.servers.bootstrap, self.prefix, TopicNames(self.prefix),
                                   timeout_s=SETTLE_S)
        assert self.simulation is not None
        with open_sink(self.env["ABSTREAM_SINK_URL"]) as sink:
            found = store_totals(sink, self.simulation.truth)
        return compare(self.simulation.truth, found)

    async def states_gone_back(self) -> list[str]:
        """Users whose stored state was ever replaced by an older one (a lower version)."""
        latest: dict[bytes, int] = {}
        gone_back = []
        # Faust names a table's changelog <app id>-<table>-changelog.
        records = await read_topic(self.servers.bootstrap, f"{self.prefix}-users-changelog")
        for record in sorted(records, key=lambda r: (r.partition, r.offset)):
            if record.key.startswith(b"["):  # the join's positions, not a user
                continue
            version = json.loads(record.value)["version"]
            if version < latest.get(record.key, 0):
                gone_back.append(f"{record.key.decode()} v{latest[record.key]} -> v{version} "
                                 f"at {record.partition}/{record.offset}")
            latest[record.key] = version
        return gone_back

    def close(self) -> None:
        for worker in self.workers:
            worker.stop()
        shutil.rmtree(load_settings(stack="test", topic_prefix=self.prefix).worker_dir.parent,
                      ignore_errors=True)


@pytest.fixture
def fault_run(servers: Servers, tmp_path: Path) -> Iterator[FaultRun]:
    run = FaultRun(servers, tmp_path)
    try:
        yield run
    finally:
        run.close()


def slices(deliveries: list[Any], count: int) -> list[list[Any]]:
    size = -(-len(deliveries) // count)
    return [deliveries[i:i + size] for i in range(0, len(deliveries), size)]


def mismatches(rows: list[dict[str, Any]]) -> list[str]:
    return [f"{r['experiment']}/{r['variant']}/{r['metric']}: {r['mismatched']} "
            f"expected {r['expected']} found {r['found']}" for r in rows if not r["ok"]]


async def test_three_sigkills_at_random_points_lose_and_double_nothing(
    fault_run: FaultRun,
) -> None:
    worker = fault_run.start()
    parts = slices(fault_run.simulate(), 6)
    kills = 0
    for index, part in enumerate(parts):
        await fault_run.send(part)
        if index % 2 == 0:  # after slices 0, 2 and 4, mid-processing
            await asyncio.sleep(random.uniform(0.2, 2.0))
            worker.kill()
            kills += 1
            worker.start()
    rows = await fault_run.settle()
    assert kills == 3
    assert rows and not mismatches(rows), "\n".join(mismatches(rows))


async def test_every_event_sent_twice_counts_once(fault_run: FaultRun) -> None:
    worker = fault_run.start()
    deliveries = fault_run.simulate(duplicate_rate=1.0)
    assert fault_run.simulation is not None
    assert len(deliveries) == 2 * fault_run.simulation.distinct_events
    await fault_run.send(deliveries)
    rows = await fault_run.settle()
    assert rows and not mismatches(rows), "\n".join(mismatches(rows))
    assert metric(worker, "abstream_duplicates_total") == fault_run.simulation.distinct_events


async def test_clickhouse_down_for_30_seconds_delays_results_only(
    fault_run: FaultRun, settings: Settings
) -> None:
    assert os.environ.get("ABSTREAM_TEST_SERVERS", "local") == "local"  # needs infra/'s servers
    worker = fault_run.start()
    first, second = slices(fault_run.simulate(), 2)
    await fault_run.send(first)
    stack = Stack(settings)
    stack.down(["clickhouse"])
    try:
        down_at = time.monotonic()
        await fault_run.send(second)
        await asyncio.sleep(max(0.0, 30 - (time.monotonic() - down_at)))
        assert metric(worker, "abstream_sink_errors_total") > 0
    finally:
        stack.up(["clickhouse"])
    rows = await fault_run.settle()
    assert rows and not mismatches(rows), "\n".join(mismatches(rows))


async def test_a_broker_restart_mid_stream_loses_nothing(
    fault_run: FaultRun, settings: Settings
) -> None:
    assert os.environ.get("ABSTREAM_TEST_SERVERS", "local") == "local"
    worker = fault_run.start()
    first, second = slices(fault_run.simulate(), 2)
    await fault_run.send(first)
    await asyncio.sleep(random.uniform(0.2, 1.5))
    stack = Stack(settings)
    await asyncio.to_thread(stack.down, ["kafka"])
    try:
        await asyncio.sleep(5)
    finally:
        await asyncio.to_thread(stack.up, ["kafka"])  # it probes the broker with asyncio.run
    await fault_run.send(second)
    rows = await fault_run.settle()
    assert worker.process is not None and worker.process.poll() is None, "the worker died"
    assert rows and not mismatches(rows), "\n".join(mismatches(rows))


# Partitions move with their table state: standby copies are promoted when the first
# worker leaves (see "Crashes and rebalances" in docs/pipeline.md).
async def test_a_worker_leaving_and_coming_back_loses_nothing(fault_run: FaultRun) -> None:
    first = fault_run.start(0)
    parts = slices(fault_run.simulate(), 4)
    await fault_run.send(parts[0])
    second = fault_run.start(1)  # joins: the group rebalances while traffic flows
    await fault_run.send(parts[1])
    await asyncio.sleep(1)
    first.stop()  # leaves (SIGTERM): its partitions move to the second worker
    await fault_run.send(parts[2])
    first.start()  # comes back
    await fault_run.send(parts[3])
    rows = await fault_run.settle()
    assert metric(second, "abstream_events_in_total") > 0  # both workers did part of the work
    assert metric(first, "abstream_events_in_total") > 0
    assert rows and not mismatches(rows), "\n".join(mismatches(rows))
    gone_back = await fault_run.states_gone_back()
    assert not gone_back, f"{len(gone_back)} user states went back: {gone_back[:5]}"
