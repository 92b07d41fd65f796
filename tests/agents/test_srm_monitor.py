"""An injected 45/55 split of a 50/50 experiment raises an SRM alert; a correct split does not."""

from __future__ import annotations

import asyncio
import time
import urllib.request
import uuid
from typing import Any

import pytest

from abstream.worker_process import WorkerProcess
from schemas import TYPE_HEADER, decode
from sinks import SinkError, open_sink
from tests.agents.test_pipeline import create_experiment
from tests.agents.traffic import exposure
from tests.kafka_reading import read_topic
from topology.producer import EventProducer
from topology.topics import TopicNames

pytestmark = pytest.mark.infra


async def test_a_skewed_split_alerts_and_pauses_and_a_fair_one_does_not(
    workers: list[WorkerProcess], servers: Any
) -> None:
    skewed, fair = f"skewed_{uuid.uuid4().hex[:8]}", f"fair_{uuid.uuid4().hex[:8]}"
    for key in (skewed, fair):
        create_experiment(workers[0], key)
    names = TopicNames(workers[0].env["ABSTREAM_TOPIC_PREFIX"])
    now = int(time.time() * 1000) - 60_000
    producer = EventProducer(servers.bootstrap, names)
    await producer.start()
    try:
        await producer.send_exposures(
            [exposure(f"u{i}", skewed, "a" if i % 20 < 9 else "b", now) for i in range(10_000)]
            + [exposure(f"u{i}", fair, "ab"[i % 2], now) for i in range(10_000)])
    finally:
        await producer.stop()

    alerts = await _until_alerted(workers[0].env["ABSTREAM_SINK_URL"], (skewed, fair))
    # Raised as soon as confirmed, maybe before every exposure was counted.
    ((experiment, variants, (a, b)),) = alerts
    assert (experiment, variants) == (skewed, ["a", "b"])
    assert a + b >= 1_000 and 0.53 < b / (a + b) < 0.57
    # The topic carries other tests' alerts, of more than one schema: each names its own.
    on_topic = [decode("srm_alert", r.value)
                for r in await read_topic(servers.bootstrap, names.alerts)
                if r.key in (skewed.encode(), fair.encode())]
    assert all(dict(r.headers) == {TYPE_HEADER: b"srm_alert"}
               for r in await read_topic(servers.bootstrap, names.alerts)
               if r.key == skewed.encode())
    assert {a["experiment"] for a in on_topic} == {skewed}
    assert on_topic[0]["observed"] == {"a": a, "b": b}
    paused = workers[0].client().get(f"/experiments/{skewed}")
    assert paused["experiment"]["status"] == "paused"
    history = workers[0].client().get(f"/experiments/{skewed}/history")["history"]
    assert history[-1]["actor"] == "srm-monitor"
    assert "sample-ratio mismatch" in history[-1]["reason"]
    assert workers[0].client().get(f"/experiments/{fair}")["experiment"]["status"] == "active"
    # Paused, the skewed experiment's gauges go (its alert resolves); the fair one's stay.
    gauges = [line for w in workers for line in _metric_lines(w, "abstream_srm_mismatch{")]
    assert not any(skewed in line for line in gauges)
    assert any(fair in line and line.endswith(" 0.0") for line in gauges)


def _metric_lines(worker: WorkerProcess, prefix: str) -> list[str]:
    with urllib.request.urlopen(f"{worker.url}/metrics") as response:
        return [line for line in response.read().decode().splitlines()
                if line.startswith(prefix)]


async def _until_alerted(url: str, keys: tuple[str, ...],
                         ) -> list[tuple[str, list[str], list[int]]]:
    deadline = time.monotonic() + 60
    found: list[tuple[str, list[str], list[int]]] = []
    with open_sink(url) as sink:
        while not found and time.monotonic() < deadline:
            await asyncio.sleep(1)
            try:
                rows = await asyncio.to_thread(
                    sink.query, f"SELECT experiment, variants, observed "
                    f"FROM {sink.database}.srm_alerts FINAL WHERE experiment IN %(keys)s",
                    {"keys": keys})
            except SinkError:
                continue
            found = [(e, list(v), [int(n) for n in o]) for e, v, o in rows]
    # Give the fair experiment the same time to (not) alert.
    await asyncio.sleep(3)
    return found
