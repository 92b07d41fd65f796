"""Hostile input against real workers: each is refused with a reason, the worker stays up,
every refused event is dead-lettered with its reason, and the results do not move."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from typing import Any

import aiohttp
import pytest

from abstream.worker_process import WorkerProcess
from experiments import ConfigSnapshot, assign, parse_config
from schemas import decode
from tests.agents.traffic import metric
from tests.kafka_reading import events_in, read_topic
from tests.workers import INTAKE_TOKEN, TOKENS
from topology.producer import EventProducer
from topology.topics import TopicNames

pytestmark = pytest.mark.infra
HEADERS = {"Authorization": f"Bearer {INTAKE_TOKEN}", "Content-Type": "application/json"}
LONE = '"x\\ud800"'  # JSON text of a string with an unpaired UTF-16 surrogate


def names(worker: WorkerProcess) -> TopicNames:
    return TopicNames(worker.env["ABSTREAM_TOPIC_PREFIX"])


async def post(worker: WorkerProcess, path: str, body: str | bytes) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.post(
            worker.url + path, data=body, headers=HEADERS) as response:
        return response.status, await response.json()


async def assert_up(workers: list[WorkerProcess]) -> None:
    async with aiohttp.ClientSession() as session:
        for worker in workers:
            async with session.get(worker.url + "/health") as response:
                assert response.status == 200


async def dead_letters(servers: Any, worker: WorkerProcess, marker: str) -> list[dict]:
    letters = [decode("dead_letter", r.value)
               for r in await read_topic(servers.bootstrap, names(worker).deadletter)]
    return [letter for letter in letters if marker.encode() in letter["payload"]]


def create_experiment(worker: WorkerProcess) -> str:
    key = f"sec_{uuid.uuid4().hex[:8]}"
    admin = worker.client(TOKENS["alice"])
    admin.request("POST", "/experiments", {
        "key": key, "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "n", "kind": "count", "event": "purchase"}]})
    admin.request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    return key


async def test_a_lone_surrogate_in_an_assignment_gets_control_with_reason_error(
    workers: list[WorkerProcess],
) -> None:
    key = create_experiment(workers[0])
    served_snapshot(workers[0], key)
    for body in (f'{{"user_id": {LONE}}}', f'{{"user_id": {LONE}, "activate": true}}',
                 f'{{"user_id": "u1", "attributes": {{"country": {LONE}}}, "activate": true}}',
                 f'{{"user_id": "u1", "attributes": {{{LONE}: "US"}}}}'):
        status, answer = await post(workers[0], "/assignments", body)
        assert status == 200 and "valid Unicode" in answer["error"]
        assert answer["assignments"][key]["reason"] == "error"
        assert {a["reason"] for a in answer["assignments"].values()} == {"error"}
        assert answer.get("exposures_logged", 0) == 0
        await assert_up(workers)


async def test_bad_strings_in_a_batch_are_dead_lettered_by_index_and_a_retry_succeeds(
    workers: list[WorkerProcess], servers: Any,
) -> None:
    marker = uuid.uuid4().hex
    good = json.dumps({"event_id": f"{marker}-ok", "user_id": "u1", "name": "purchase"})
    batch = (f'[{good}, {{"event_id": "{marker}-1", "user_id": {LONE}, "name": "purchase"}},'
             f' {{"event_id": "{marker}-2", "user_id": "u", "name": "n",'
             f' "attributes": {{{LONE}: 1}}}},'
             f' {{"event_id": "{marker}-3", "user_id": "u", "name": "{"n" * 1_000_000}"}}]')
    for _ in range(2):  # the retry of the same batch is answered the same way
        status, answer = await post(workers[0], "/events", batch)
        assert status == 200 and answer["accepted"] == 1
        assert [(r["index"], r["error"].split(":")[0]) for r in answer["rejected"]] == [
            (1, "user_id"), (2, "attributes.x\\ud800"), (3, "name")]
        assert "not valid Unicode" in answer["rejected"][0]["error"]
        assert "longer than 256" in answer["rejected"][2]["error"]
        await assert_up(workers)
    letters = await dead_letters(servers, workers[0], marker)
    assert sorted(letter["error"].split(":")[0] for letter in letters) == [
        "attributes.x\\ud800", "attributes.x\\ud800", "name", "name", "user_id", "user_id"]
    assert all(letter["source"] == "http:/events" for letter in letters)
    arrived = [e["event_id"] for e in events_in(
        await read_topic(servers.bootstrap, names(workers[0]).events), "goal_event")]
    assert arrived.count(f"{marker}-ok") == 2


@pytest.mark.parametrize("path", ["/events", "/exposures"])
async def test_deep_nesting_is_a_400_with_a_reason_and_a_dead_letter(
    workers: list[WorkerProcess], servers: Any, path: str,
) -> None:
    marker = uuid.uuid4().hex
    for depth in (33, 10_000):
        body = f'[{{"user_id": "{marker}", "x": {"[" * depth}{"]" * depth}}}]'
        status, answer = await post(workers[0], path, body)
        assert status == 400 and "nested more than 32 levels" in answer["error"]
        await assert_up(workers)
    letters = await dead_letters(servers, workers[0], marker)
    assert len(letters) == 2 and all("nested more than 32" in x["error"] for x in letters)
    deep = "[" * 10_000 + "]" * 10_000
    status, answer = await post(workers[0], "/assignments",
                                f'{{"user_id": "u", "attributes": {{"a": {deep}}}}}')
    assert status == 400 and "nested more than" in answer["error"]
    await assert_up(workers)


def served_snapshot(worker: WorkerProcess, key: str) -> ConfigSnapshot:
    deadline = time.monotonic() + 30
    while True:
        document = worker.client().get("/config")
        version = document.pop("version")
        config, _ = parse_config(document)
        if any(e.key == key for e in config.experiments) or time.monotonic() > deadline:
            return ConfigSnapshot.build(config, version)
        time.sleep(0.2)


async def results(worker: WorkerProcess, key: str) -> dict[str, Any]:
    report = await asyncio.to_thread(worker.client(TOKENS["alice"]).get,
                                     f"/experiments/{key}/results")
    report.pop("computed_at")
    return report


async def wait_for(worker: WorkerProcess, key: str, done: Any) -> dict[str, Any]:
    deadline = time.monotonic() + 90
    while True:
        report = await results(worker, key)
        if done(report) or time.monotonic() > deadline:
            return report
        await asyncio.sleep(0.5)


async def test_forged_exposures_are_refused_and_mismatches_are_flagged(
    workers: list[WorkerProcess], servers: Any,
) -> None:
    key = create_experiment(workers[0])
    snapshot = served_snapshot(workers[1], key)
    marker = uuid.uuid4().hex
    forged = [{"event_id": f"{marker}-{i}", "user_id": f"{marker}-u{i}", **changes}
              for i, changes in enumerate([
                  {"experiment": f"nope_{marker}", "variant": "a"},
                  {"experiment": key, "variant": "zzz"},
                  {"experiment": key, "variant": "a", "phase": 2}])]
    status, answer = await post(workers[1], "/exposures", json.dumps(forged))
    assert status == 200 and answer["accepted"] == 0
    assert [r["error"].split(":")[0] for r in answer["rejected"]] == [
        "unknown experiment", "unknown variant", "unknown phase"]
    assert "phase 2 is not a phase of" in answer["rejected"][2]["error"]
    # The same forgeries produced straight to Kafka are refused by the join.
    producer = EventProducer(servers.bootstrap, names(workers[0]))
    await producer.start()
    try:
        await producer.send_exposures([{
            **e, "event_id": e["event_id"] + "-kafka", "phase": e.get("phase", 1),
            "config_version": 1, "timestamp": int(time.time() * 1000),
            "received_at": int(time.time() * 1000), "attributes": {}, "source": "forged",
            "override": False} for e in forged])
    finally:
        await producer.stop()
    # Users told another variant than the config assigns them: counted, and flagged.
    other = {"a": "b", "b": "a"}
    wrong = []
    for i in range(10):
        found = assign(snapshot, key, f"{marker}-m{i}")
        assert found is not None and found.enrolled
        wrong.append({"event_id": f"{marker}-m{i}", "user_id": f"{marker}-m{i}",
                      "experiment": key, "variant": other[found.variant]})
    before = sum(metric(w, "abstream_exposure_mismatches_total") for w in workers)
    status, answer = await post(workers[0], "/exposures", json.dumps(wrong))
    assert status == 200 and answer["accepted"] == 10
    report = await wait_for(workers[0], key, lambda r: r["mismatched_users"] == 10
                            and sum(r["slices"][0]["exposures"].values()) == 10)
    assert report["mismatched_users"] == 10 and "10 users" in report["notes"][0]
    assert sum(report["slices"][0]["exposures"].values()) == 10
    assert sum(metric(w, "abstream_exposure_mismatches_total") for w in workers) - before == 10
    await assert_up(workers)
    # No forged exposure became a fact: only the ten users the config knows are in the results.
    facts = events_in(await read_topic(servers.bootstrap, names(workers[0]).facts), "fact")
    assert {f["user_id"] for f in facts if f["experiment"] == key} == {
        f"{marker}-m{i}" for i in range(10)}
    deadline = time.monotonic() + 60
    while True:
        letters = await dead_letters(servers, workers[0], marker)
        if len(letters) == 6 or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.5)
    reasons = sorted((x["source"], x["error"].split(":")[0]) for x in letters)
    assert reasons == sorted(
        (source, reason) for source in ("http:/exposures", "stream")
        for reason in ("unknown experiment", "unknown variant", "unknown phase"))
