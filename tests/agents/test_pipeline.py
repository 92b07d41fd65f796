"""The streaming join in real workers: events in over HTTP, facts out on Kafka."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import pytest

from abstream.worker_process import WorkerProcess
from tests.kafka_reading import events_in, read_topic
from tests.workers import INTAKE_HEADERS, TOKENS
from topology.topics import TopicNames

pytestmark = pytest.mark.infra
MINUTE, DAY = 60_000, 86_400_000


async def latest_facts(bootstrap: str, topic: str) -> dict[str, dict[str, Any]]:
    latest: dict[str, dict[str, Any]] = {}
    for fact in events_in(await read_topic(bootstrap, topic), "fact"):
        key = f"{fact['experiment']}/{fact['phase']}/{fact['user_id']}"
        if key not in latest or fact["version"] > latest[key]["version"]:
            latest[key] = fact
    return latest


def create_experiment(worker: WorkerProcess, key: str) -> None:
    admin = worker.client(TOKENS["alice"])
    admin.request("POST", "/experiments", {
        "key": key, "conversion_window_hours": 1,
        "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "n", "kind": "count", "event": "purchase"}]})
    admin.request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)


async def facts_of(servers: Any, worker: WorkerProcess, key: str,
                   expected: dict[str, float]) -> dict[str, dict[str, Any]]:
    """The latest fact per user of experiment `key`, once they show `expected` (or 60 s)."""
    topic = TopicNames(worker.env["ABSTREAM_TOPIC_PREFIX"]).facts
    deadline = time.monotonic() + 60
    while True:
        facts = await latest_facts(servers.bootstrap, topic)
        mine = {fact["user_id"]: fact for fact in facts.values() if fact["experiment"] == key}
        if {u: f["values"]["n"] for u, f in mine.items()} == expected:
            return mine
        if time.monotonic() > deadline:
            return mine
        await asyncio.sleep(0.3)


async def send(worker: WorkerProcess, steps: list[tuple[str, dict]]) -> None:
    async with aiohttp.ClientSession() as session:
        for path, event in steps:  # one at a time: each answer means Kafka has it, in order
            async with session.post(worker.url + path, json=[event],
                                    headers=INTAKE_HEADERS) as response:
                assert (await response.json())["accepted"] == 1


async def test_scenarios_give_exact_facts(workers: list[WorkerProcess], servers: Any) -> None:
    key, other = f"join_{uuid.uuid4().hex[:8]}", f"other_{uuid.uuid4().hex[:8]}"
    create_experiment(workers[0], key)
    create_experiment(workers[0], other)
    t = (int(time.time() * 1000) // DAY - 1) * DAY + 12 * 3_600_000  # yesterday noon

    def seen(user: str, at: int, variant: str = "a", **extra: Any) -> tuple[str, dict]:
        return "/exposures", {"event_id": str(uuid.uuid4()), "user_id": user,
                              "experiment": key, "variant": variant, "timestamp": at, **extra}


    def did(user: str, at: int, name: str = "purchase", event_id: str | None = None) -> tuple:
        return "/events", {"event_id": event_id or str(uuid.uuid4()), "user_id": user,
                           "name": name, "timestamp": at}

    # Exposures and goals travel on two topics: their relative order is not guaranteed,
    # which is what the grace period is for. "late" is made deterministic below.
    await send(workers[0], [
        seen("after", t), did("after", t + MINUTE),
        did("before", t - DAY), seen("before", t),
        did("grace", t + MINUTE), seen("grace", t),
        seen("dup", t), did("dup", t + MINUTE, event_id=f"{key}-dup"),
        did("dup", t + MINUTE, event_id=f"{key}-dup"),
        seen("qa", t, "b", override=True), did("qa", t + MINUTE),
        seen("twice", t, "a"), seen("twice", t + MINUTE, "b"),
        seen("late", t - 2 * MINUTE, experiment=other), did("late", t + MINUTE),
    ])
    # The goal has been joined (to the other experiment) before time moves on...
    assert (await facts_of(servers, workers[0], other, {"late": 1.0}))["late"]["values"]["n"] == 1
    # ...then event time passes the grace period, and only then the exposure arrives.
    await send(workers[0], [seen("late", t + 30 * MINUTE, experiment=other), seen("late", t)])
    expected = {"after": 1.0, "before": 0.0, "grace": 1.0, "late": 0.0, "dup": 1.0, "twice": 0.0}
    mine = await facts_of(servers, workers[0], key, expected)
    assert {user: fact["values"]["n"] for user, fact in mine.items()} == expected  # no "qa"
    assert mine["before"]["covariates"]["n"] == 1.0
    assert mine["twice"]["multiple_exposures"] is True and mine["twice"]["variant"] == "a"
    assert mine["after"]["first_exposure"] == t
