"""Event intake and assignment lookups against real workers and the real broker."""

from __future__ import annotations

import asyncio
import json
import random
import time
import uuid
from typing import Any

import aiohttp
import pytest

from abstream.worker_process import WorkerProcess
from experiments import ConfigSnapshot, assign_all, parse_config
from schemas import decode
from tests.agents.traffic import metric
from tests.kafka_reading import events_in, read_topic
from tests.workers import INTAKE_HEADERS, TOKENS
from topology.topics import TopicNames

pytestmark = pytest.mark.infra


def topics(worker: WorkerProcess) -> TopicNames:
    return TopicNames(worker.env["ABSTREAM_TOPIC_PREFIX"])


def malformed(rng: random.Random, i: int) -> Any:
    """One of several kinds of broken goal event."""
    kind = i % 6
    if kind == 0:
        return {"name": "purchase"}  # no user
    if kind == 1:
        return {"user_id": rng.randint(0, 10**6), "name": "purchase"}  # wrong type
    if kind == 2:
        return {"user_id": "u", "name": "x" * rng.randint(513, 4000)}  # oversized
    if kind == 3:
        return {"user_id": "u", "name": "purchase", "value": "a lot"}
    if kind == 4:
        return rng.choice(["junk", 42, None, [1, 2], True])
    return {"user_id": "u", "name": "n", "timestamp": 10**15}  # far in the future


async def post(session: aiohttp.ClientSession, url: str, body: bytes) -> tuple[int, Any]:
    async with session.post(url, data=body, headers={
            **INTAKE_HEADERS, "Content-Type": "application/json"}) as response:
        return response.status, await response.json()


async def intake_letters(servers: Any, names: Any) -> list[dict[str, Any]]:
    """The dead letters of events refused by the shared workers' intake."""
    letters = [decode("dead_letter", r.value)
               for r in await read_topic(servers.bootstrap, names.deadletter)]
    return [letter for letter in letters if letter["topic"] == names.events]


async def test_malformed_input_ends_in_dead_letters_and_valid_events_arrive(
    workers: list[WorkerProcess], servers: Any
) -> None:
    rng = random.Random(7)
    url = f"{workers[0].url}/events"
    names = topics(workers[0])
    # The shared workers' other tests dead-letter events too: count only what comes after.
    earlier = await intake_letters(servers, names)
    valid_ids, expected_letters = [], 0
    async with aiohttp.ClientSession() as session:
        for batch in range(20):  # 20 batches x (40 malformed + 10 valid) = 800 malformed events
            events: list[Any] = []
            for i in range(50):
                if i % 5 == 0:
                    event_id = str(uuid.uuid4())
                    valid_ids.append(event_id)
                    events.append({"event_id": event_id, "user_id": f"u{batch}-{i}",
                                   "name": "purchase", "value": i})
                else:
                    events.append(malformed(rng, i))
            status, answer = await post(session, url, json.dumps(events).encode())
            assert status == 200 and answer["accepted"] == 10
            assert len(answer["rejected"]) == 40
            assert all(r["error"] for r in answer["rejected"])
            expected_letters += 40
        for _ in range(200):  # whole bodies that are not batches at all
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 300)))
            status, answer = await post(session, url, body)
            assert status in (400, 422) and answer["error"]
            expected_letters += 1
    letters = await intake_letters(servers, names)
    assert len(letters) - len(earlier) == expected_letters == 1000
    assert all(letter["error"] and letter["source"] == "http:/events" for letter in letters)
    arrived = {e["event_id"] for e in events_in(
        await read_topic(servers.bootstrap, names.events), "goal_event")}
    assert set(valid_ids) <= arrived


async def test_batch_and_body_limits(workers: list[WorkerProcess]) -> None:
    async with aiohttp.ClientSession() as session:
        too_many = json.dumps([{"user_id": "u", "name": "n"}] * 1001).encode()
        status, answer = await post(session, f"{workers[0].url}/events", too_many)
        assert status == 413 and "at most 1000" in answer["error"]
        too_big = b"[" + b" " * (2 * 1024 * 1024) + b"]"
        async with session.post(f"{workers[0].url}/events", data=too_big, headers={
                **INTAKE_HEADERS, "Content-Type": "application/json"}) as response:
            assert response.status == 413


def served_snapshot(worker: WorkerProcess, written_on: WorkerProcess) -> ConfigSnapshot:
    """The config `worker` serves once it has read every change `written_on` has made:
    each worker applies the config log on its own, so a write shows elsewhere later."""
    target = written_on.client().get("/config")["version"]
    deadline = time.monotonic() + 10
    while True:
        config_doc = worker.client().get("/config")
        version = config_doc.pop("version")
        if version >= target or time.monotonic() > deadline:
            break
        time.sleep(0.02)
    config, problems = parse_config(config_doc)
    assert problems == []
    return ConfigSnapshot.build(config, version)


async def test_assignments_equal_assign_all_for_ten_thousand_users(
    workers: list[WorkerProcess],
) -> None:
    admin = workers[0].client(TOKENS["alice"])
    layer = f"l{uuid.uuid4().hex[:6]}"
    admin.request("PUT", f"/layers/{layer}", {})
    for i, extra in enumerate([
        {"layer": layer, "layer_slots": [[0, 3999]]},
        {"layer": layer, "layer_slots": [[4000, 9999]], "coverage": 60},
        {"targeting": {"attribute": "country", "op": "in", "value": ["US", "CA"]}},
    ]):
        key = f"lookup_{i}_{uuid.uuid4().hex[:6]}"
        admin.request("POST", "/experiments", {
            "key": key, "variants": [{"key": "a", "weight": 30}, {"key": "b", "weight": 70}],
            **extra})
        admin.request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    snapshot = served_snapshot(workers[1], written_on=workers[0])
    countries = ["US", "CA", "FR", "DE"]
    semaphore = asyncio.Semaphore(32)

    async def lookup(session: aiohttp.ClientSession, i: int) -> None:
        user, country = f"user-{i}", countries[i % 4]
        async with semaphore, session.get(f"{workers[1].url}/assignments",
                                          params={"user_id": user, "country": country}) as r:
            answer = await r.json()
        assert answer["config_version"] == snapshot.version
        expected = assign_all(snapshot, user, {"country": country})
        got = {k: (v["variant"], v["reason"]) for k, v in answer["assignments"].items()}
        assert got == {k: (a.variant, a.reason.value) for k, a in expected.items()}

    timed = metric(workers[1], "abstream_assignment_seconds_count")
    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(lookup(session, i) for i in range(10_000)))
    assert metric(workers[1], "abstream_assignment_seconds_count") - timed == 10_000


async def test_activation_logs_each_exposure_once(
    workers: list[WorkerProcess], servers: Any
) -> None:
    admin = workers[0].client(TOKENS["alice"])
    key = f"act_{uuid.uuid4().hex[:8]}"
    admin.request("POST", "/experiments", {
        "key": key, "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]})
    admin.request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    async with aiohttp.ClientSession() as session:
        body = json.dumps({"user_id": "activated-user", "activate": True}).encode()
        status, first = await post(session, f"{workers[0].url}/assignments", body)
        _, again = await post(session, f"{workers[0].url}/assignments", body)
    assert status == 200 and first["exposures_logged"] >= 1 and again["exposures_logged"] == 0
    exposures = events_in(
        await read_topic(servers.bootstrap, topics(workers[0]).exposures), "exposure")
    mine = [e for e in exposures if e["experiment"] == key]
    assert len(mine) == 1
    assert mine[0]["user_id"] == "activated-user"
    assert mine[0]["variant"] == first["assignments"][key]["variant"]
