"""Ramp schedules, guardrails and automatic rollback on real workers, Kafka and ClickHouse,
with traffic from `abstream simulate`."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from abstream.cli import main
from abstream.worker_process import WorkerProcess
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
