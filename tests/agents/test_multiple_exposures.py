"""Users exposed to two variants, the later exposure delivered first: counted once, exactly.

Real workers (separate processes) take the traffic through their HTTP intake; the
totals in ClickHouse must equal the ground truth, which counts each user once, in
the variant of their earliest exposure.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from abstream.simulate import store_totals
from abstream.worker_process import WorkerProcess
from experiments.ground_truth import GroundTruth, compare
from experiments.parsing import parse_experiment
from experiments.simulation import SimulationSpec
from sinks import SinkError, open_sink
from sinks.totals import exposed_users, mismatched_users, multiple_exposure_users
from tests.agents.test_pipeline import create_experiment, latest_facts, send
from tests.workers import TOKENS
from topology.topics import TopicNames

pytestmark = pytest.mark.infra
USERS, SWITCHED = 40, 12  # the first SWITCHED users see b later, but b is delivered first
MINUTE = 60_000


def traffic(key: str, t: int) -> tuple[list[tuple[str, dict]], list[tuple[str, dict]]]:
    """What is delivered first (later exposures, goals) and what arrives after (the earlier
    exposures of the switched users)."""
    first, after = [], []
    for i in range(USERS):
        user = f"{key}-u{i}"
        own = "ab"[i % 2]
        seen = {"user_id": user, "experiment": key, "timestamp": t}
        if i < SWITCHED:  # a at t (the first exposure), b at t + 2 min (seen first)
            first.append(("/exposures", {**seen, "event_id": f"{user}-b", "variant": "b",
                                         "timestamp": t + 2 * MINUTE}))
            after.append(("/exposures", {**seen, "event_id": f"{user}-a", "variant": "a"}))
        else:
            first.append(("/exposures", {**seen, "event_id": f"{user}-x", "variant": own}))
        # Too early for the later exposure (beyond the clock-skew allowance), not the earlier.
        first += [("/events", {"event_id": f"{user}-g{j}", "user_id": user, "name": "purchase",
                               "timestamp": t + MINUTE // 2 + j}) for j in range(i % 3)]
    return first, after


def ground_truth(worker: WorkerProcess, key: str,
                 steps: list[tuple[str, dict]]) -> dict[str, Any]:
    document = worker.client(TOKENS["alice"]).get(f"/experiments/{key}")["experiment"]
    experiment = parse_experiment(document, [])
    assert experiment is not None
    truth = GroundTruth([experiment], SimulationSpec(users=USERS))
    by_user: dict[str, tuple[list, list]] = {}
    for path, event in steps:
        record = {**event, "phase": experiment.phase, "value": None}
        by_user.setdefault(event["user_id"], ([], []))[path == "/events"].append(record)
    for exposures, goals in by_user.values():
        truth.add_user(exposures, goals)
    return truth.document()


async def wait_for_variants(servers: Any, worker: WorkerProcess, key: str,
                            want: dict[str, str]) -> dict[str, dict[str, Any]]:
    """The latest facts of experiment `key`, once their variants are `want` (or 60 s)."""
    topic = TopicNames(worker.env["ABSTREAM_TOPIC_PREFIX"]).facts
    deadline = time.monotonic() + 60
    while True:
        facts = {f["user_id"]: f for f in (await latest_facts(servers.bootstrap, topic)).values()
                 if f["experiment"] == key}
        if {u: f["variant"] for u, f in facts.items()} == want or time.monotonic() > deadline:
            return facts
        await asyncio.sleep(0.3)


async def test_switched_users_count_once_in_their_earliest_exposures_variant(
        workers: list[WorkerProcess], servers: Any) -> None:
    key = f"switch_{uuid.uuid4().hex[:8]}"
    create_experiment(workers[0], key)
    t = int(time.time() * 1000) - 3_600_000
    first, after = traffic(key, t)
    own = {f"{key}-u{i}": "ab"[i % 2] for i in range(USERS)}
    await send(workers[0], first)
    # The facts say b for the switched users before their earlier exposure arrives.
    facts = await wait_for_variants(servers, workers[0], key,
                                    {**own, **{f"{key}-u{i}": "b" for i in range(SWITCHED)}})
    assert len(facts) == USERS
    await send(workers[0], after)
    want = {**own, **{f"{key}-u{i}": "a" for i in range(SWITCHED)}}
    facts = await wait_for_variants(servers, workers[0], key, want)
    assert {u: f["variant"] for u, f in facts.items()} == want
    assert {u for u, f in facts.items() if f["multiple_exposures"]} == {
        f"{key}-u{i}" for i in range(SWITCHED)}

    truth = ground_truth(workers[0], key, first + after)
    variants = truth["experiments"][key]["variants"]
    assert {v: part["exposed_users"] for v, part in variants.items()} == {"a": 26, "b": 14}
    with open_sink(workers[0].env["ABSTREAM_SINK_URL"]) as sink:
        rows = await until_exact(sink, truth)
        assert [row for row in rows if not row["ok"]] == []
        assert exposed_users(sink, key, 1) == {"a": 26, "b": 14}
        assert multiple_exposure_users(sink, key, 1) == SWITCHED
        # Every exposure written (and checked against the config) before the next test.
        exposures = f"SELECT count() FROM {sink.database}.exposures_raw FINAL " \
                    f"WHERE experiment = '{key}'"
        assert await until_count(sink, exposures, USERS + SWITCHED) == USERS + SWITCHED
        # One of each switched user's two exposures is not what the config assigns.
        assert mismatched_users(sink, key, 1) >= SWITCHED
    report = workers[1].client().get(f"/experiments/{key}/results")
    assert report["slices"][0]["exposures"] == {"a": 26, "b": 14}
    assert report["multiple_exposure_users"] == SWITCHED


async def until_exact(sink: Any, truth: dict[str, Any]) -> list[dict[str, Any]]:
    """The comparison of the store with the truth, once it matches (or after 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        try:
            rows = compare(truth, await asyncio.to_thread(store_totals, sink, truth))
        except SinkError:  # the workers have not created the tables yet
            rows = [{"ok": False}]
        if all(row["ok"] for row in rows) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.5)


async def until_count(sink: Any, sql: str, count: int) -> int:
    """The count `sql` finds, once it is `count` (or after 30 s)."""
    deadline = time.monotonic() + 30
    while True:
        (found,), = await asyncio.to_thread(sink.query, sql)
        if found == count or time.monotonic() > deadline:
            return found
        await asyncio.sleep(0.3)
