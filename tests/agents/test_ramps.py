"""Ramp schedules, guardrails and automatic rollback on real workers, Kafka and ClickHouse,
with traffic from `abstream simulate`."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import pytest

from abstream.admin_client import ApiError
from abstream.cli import main
from abstream.worker_process import WorkerProcess
from schemas import TYPE_HEADER, decode
from sinks import open_sink
from tests.agents.ramp_traffic import (
    admin,
    create,
    eventually,
    experiment,
    new_key,
    scheduler_changes,
    served_variants,
    simulate,
)
from tests.agents.traffic import exposure
from tests.kafka_reading import read_topic
from tests.servers import Servers
from topology.producer import EventProducer
from topology.topics import TopicNames

pytestmark = pytest.mark.infra


def test_a_three_step_schedule_advances_through_every_step_as_the_scheduler(
        workers: list[WorkerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    key = new_key("ramped")
    create(workers[0], key, ramp=[{"coverage": 10, "min_exposed": 100},
                                  {"coverage": 30, "min_exposed": 300}, {"coverage": 60}])
    shown = experiment(workers[1], key)
    assert shown["ramp"]["step"] == 1 and shown["ramp"]["state"] == "waiting"
    assert shown["ramp"]["waiting_for"] == ["100 more exposed users (0 of 100)"]
    simulate(workers[0], key, tmp_path, monkeypatch, 2_000, 1)
    eventually(lambda: experiment(workers[0], key)["experiment"]["coverage"],
               lambda coverage: coverage == 30)
    simulate(workers[0], key, tmp_path, monkeypatch, 2_000, 2)
    done = eventually(lambda: experiment(workers[1], key), lambda e: e["ramp"]["state"] == "done")
    assert done["experiment"]["coverage"] == 60 and done["ramp"]["step"] == 3
    changes = scheduler_changes(workers[0], key)
    assert [c["diff"]["coverage"] for c in changes] == [[10, 30], [30, 60]]
    assert all(c["applied"] and "ramp step" in c["reason"] for c in changes)
    assert [p["number"] for p in done["experiment"]["phases"]] == [1]  # nobody moved
    for worker in workers:  # every worker serves the last step's coverage
        variants = served_variants(worker, key, 400)
        enrolled = sum(reason == "assigned" for _, reason in variants.values()) / len(variants)
        assert 0.5 < enrolled < 0.7


def test_a_hand_edit_suspends_the_schedule_until_it_is_resumed(
        workers: list[WorkerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    key = new_key("edited")
    create(workers[0], key, ramp=[{"coverage": 10, "min_exposed": 50},
                                  {"coverage": 50, "min_exposed": 50}, {"coverage": 100}])
    current = experiment(workers[0], key)
    admin(workers[0]).request("PATCH", f"/experiments/{key}", {"coverage": 20},
                              current["version"], reason="more traffic, by hand")
    simulate(workers[0], key, tmp_path, monkeypatch, 1_000, 3)
    suspended = eventually(lambda: experiment(workers[1], key),
                           lambda e: e["ramp"]["exposed_users"] >= 50)
    assert suspended["ramp"]["state"] == "suspended"
    assert "alice changed coverage" in suspended["ramp"]["suspended"]
    time.sleep(4)  # four checks of the scheduler: none takes a step while suspended
    assert scheduler_changes(workers[0], key) == []
    assert experiment(workers[0], key)["experiment"]["coverage"] == 20

    monkeypatch.setenv("ABSTREAM_API_URL", workers[0].url)
    monkeypatch.setenv("ABSTREAM_API_TOKEN", "alice-secret-token")
    assert main(["experiments", "resume", key, "--reason", "checked"]) == 0
    assert f"{key}: step 2 of 3, coverage 50 %" in capsys.readouterr().out
    simulate(workers[0], key, tmp_path, monkeypatch, 1_000, 4)
    eventually(lambda: experiment(workers[0], key)["experiment"]["coverage"],
               lambda coverage: coverage == 100)
    assert main(["experiments", "status", key]) == 0
    assert "step 3 of 3, coverage 100 %, done" in capsys.readouterr().out


def test_a_guardrail_shown_ten_percent_worse_pauses_and_every_worker_serves_control(
        workers: list[WorkerProcess], servers: Servers, tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    # A fixed key and seed: the same users, assignments and purchases on every run, enough
    # of them that the always-valid bound of a -10 % lift ends far beyond the 2 % margin.
    key = "guarded_purchases"
    create(workers[0], key, ramp=[{"coverage": 50, "min_exposed": 10**6}, {"coverage": 100}],
           guardrails=[{"metric": "purchases", "margin": 0.02}])
    simulate(workers[0], key, tmp_path, monkeypatch, 240_000, 5, f"{key}.b.purchase=-0.1")
    paused = eventually(lambda: experiment(workers[1], key),
                        lambda e: e["experiment"]["status"] == "paused", timeout_s=180)
    (change,) = scheduler_changes(workers[0], key)
    assert change["diff"]["status"] == ["active", "paused"]
    assert change["reason"].startswith("guardrail breached, paused: purchases (b against")
    # The evidence: the estimate and both always-valid bounds, all beyond the -2 % margin.
    lift, low, high = map(float, re.search(r"lift ([-\d.e]+), always-valid bounds "
                                           r"\[([-\d.e]+), ([-\d.e]+)\]",
                                           change["reason"]).groups())
    assert low < lift < high < -0.02
    assert paused["ramp"]["state"] == "paused" and paused["ramp"]["suspended"]
    for worker in workers:
        assert {v for v, _ in served_variants(worker, key, 200).values()} == {"a"}
    rows = guardrail_alerts(workers[0], key)
    assert [(r[0], r[1]) for r in rows] == [("purchases", "b")]
    _, _, estimate, harm_bound, margin = rows[0]
    assert estimate < harm_bound < -margin  # harm shown beyond the margin
    records = [r for r in asyncio.run(read_topic(
        servers.bootstrap, TopicNames(workers[0].env["ABSTREAM_TOPIC_PREFIX"]).alerts))
        if r.key == key.encode()]
    assert all(dict(r.headers) == {TYPE_HEADER: b"guardrail_alert"} for r in records)
    alerts = [decode("guardrail_alert", r.value) for r in records]
    assert [(a["metric"], a["variant"], a["action"]) for a in alerts] == [
        ("purchases", "b", "pause")]


def test_an_injected_sample_ratio_mismatch_stops_the_ramp(
        workers: list[WorkerProcess], servers: Servers) -> None:
    key = new_key("srm_stopped")
    create(workers[0], key, on_breach="alert",
           ramp=[{"coverage": 50, "min_exposed": 1_000}, {"coverage": 100}])
    at = int(time.time() * 1000) - 60_000
    asyncio.run(send_exposures(servers, workers[0], [
        exposure(f"s{i}", key, "a" if i % 20 < 8 else "b", at) for i in range(6_000)]))
    stopped = eventually(lambda: experiment(workers[1], key),
                         lambda e: e["ramp"]["state"] == "suspended", timeout_s=120)
    assert "sample-ratio mismatch" in stopped["ramp"]["suspended"]
    assert stopped["experiment"]["status"] == "active"  # alert only: it keeps serving
    assert stopped["experiment"]["coverage"] == 50
    (change,) = scheduler_changes(workers[0], key)
    assert change["diff"]["ramp_state.suspended"][1].startswith("ramp stopped")


def test_results_of_phase_one_stay_readable_after_a_reweight_starts_phase_two(
        workers: list[WorkerProcess], tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    key = new_key("phased")
    create(workers[0], key)
    simulate(workers[0], key, tmp_path, monkeypatch, 1_000, 6)
    first = eventually(lambda: results(workers[0], key),
                       lambda r: total_exposed(r) >= 800)
    first = eventually(lambda: results(workers[0], key),
                       lambda r: total_exposed(r) == total_exposed(first), timeout_s=30)
    version = experiment(workers[0], key)["version"]
    admin(workers[0]).request("PATCH", f"/experiments/{key}", {"variants": [
        {"key": "a", "weight": 70}, {"key": "b", "weight": 30}]}, version, reason="re-weight")
    simulate(workers[0], key, tmp_path, monkeypatch, 1_000, 7)
    eventually(lambda: results(workers[1], key), lambda r: r["phase"] == 2
               and total_exposed(r) >= 800)
    again = results(workers[1], key, phase=1)
    assert again["phase"] == 1
    assert again["slices"][0]["exposures"] == first["slices"][0]["exposures"]
    assert again["slices"][0]["srm"]["status"] == "ok"  # judged against phase 1's 50/50
    phases = again["phases"]
    assert [(p["number"], p["weights"], p["current"]) for p in phases] == [
        (1, {"a": 50.0, "b": 50.0}, False), (2, {"a": 70.0, "b": 30.0}, True)]
    assert phases[0]["ended_at"] == phases[1]["started_at"] is not None
    monkeypatch.setenv("ABSTREAM_API_URL", workers[0].url)
    assert main(["results", key, "--phase", "1"]) == 0
    out = capsys.readouterr().out
    assert "phase 1: " in out and "weights a 50, b 50" in out and "phase 2 (current)" in out
    with pytest.raises(ApiError) as missing:
        results(workers[0], key, phase=9)
    assert missing.value.status == 404 and "no phase 9 (phases: 1, 2)" in str(missing.value)
    for hostile in ("two", "9" * 5000, "%ED%A0%80", "1.5"):  # a 400 with its reason, no crash
        with pytest.raises(ApiError) as refused:
            admin(workers[1]).get(f"/experiments/{key}/results?phase={hostile}")
        assert refused.value.status == 400 and "phase must be a whole number" in \
            str(refused.value)
    assert results(workers[1], key)["phase"] == 2


def results(worker: WorkerProcess, key: str, **query: object) -> dict:
    return admin(worker).get(f"/experiments/{key}/results", **query)


def total_exposed(report: dict) -> int:
    return sum(report["slices"][0]["exposures"].values()) if report["slices"] else 0


def guardrail_alerts(worker: WorkerProcess, key: str) -> list[tuple]:
    with open_sink(worker.env["ABSTREAM_SINK_URL"]) as sink:
        return sink.query(f"SELECT metric, variant, estimate, harm_bound, margin "
                          f"FROM {sink.database}.guardrail_alerts FINAL "
                          "WHERE experiment = %(key)s", {"key": key})


async def send_exposures(servers: Servers, worker: WorkerProcess, records: list[dict]) -> None:
    producer = EventProducer(servers.bootstrap,
                             TopicNames(worker.env["ABSTREAM_TOPIC_PREFIX"]))
    await producer.start()
    try:
        await producer.send_exposures(records)
    finally:
        await producer.stop()


@pytest.mark.parametrize("patch", [
    {"ramp": [{"coverage": 10**400}]},
    {"ramp": [{"coverage": 5, "min_hours": "\ud800"}]},
    {"ramp": [{"coverage": 5}] * 5_000},
    {"guardrails": [{"metric": "purchases", "margin": 0.02, "note": "x" * 1_048_576}]},
    {"on_breach": {"nested": [[[[]]]]}},
    {"ramp": [{"coverage": 50}], "coverage": 10},
])
def test_hostile_schedules_are_refused_with_a_reason_and_the_worker_stays_up(
        workers: list[WorkerProcess], patch: dict) -> None:
    key = new_key("hostile")
    create(workers[0], key)
    before = experiment(workers[0], key)
    with pytest.raises(ApiError) as refused:
        admin(workers[0]).request("PATCH", f"/experiments/{key}", patch, before["version"])
    assert 400 <= refused.value.status < 500 and str(refused.value)
    after = experiment(workers[1], key)
    assert after["version"] == before["version"] and after["experiment"]["coverage"] == 100
    assert admin(workers[0]).get("/health") == {"status": "ok"}
