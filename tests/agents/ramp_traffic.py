"""What the ramp tests share: an experiment with a schedule, simulated traffic for it
through `abstream simulate`, and waiting for the scheduler to act."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import pytest

from abstream.admin_client import AdminClient
from abstream.cli import main
from abstream.worker_process import WorkerProcess
from tests.workers import INTAKE_TOKEN, TOKENS

T = TypeVar("T")


def new_key(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


def admin(worker: WorkerProcess) -> AdminClient:
    return worker.client(TOKENS["alice"])


def create(worker: WorkerProcess, key: str, activate: bool = True, **fields: Any) -> None:
    """A 50/50 experiment on purchases; `fields` adds a ramp, guardrails, ..."""
    admin(worker).request("POST", "/experiments", {
        "key": key, "conversion_window_hours": 1,
        "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "purchases", "kind": "count", "event": "purchase"}], **fields})
    if activate:
        admin(worker).request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)


def experiment(worker: WorkerProcess, key: str) -> dict[str, Any]:
    return admin(worker).get(f"/experiments/{key}")


def simulate(worker: WorkerProcess, key: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
             users: int, seed: int, *effects: str) -> None:
    """`abstream simulate` of `key` alone, as the worker serves it now, through its intake."""
    served = admin(worker).get("/config")
    config = {"range_convention": served["range_convention"], "layers": served["layers"],
              "holdout": served["holdout"],
              "experiments": [e for e in served["experiments"] if e["key"] == key]}
    file = tmp_path / f"{key}-{seed}.json"
    file.write_text(json.dumps(config))
    monkeypatch.setenv("ABSTREAM_API_URL", worker.url)
    monkeypatch.setenv("ABSTREAM_API_TOKEN", INTAKE_TOKEN)
    command = ["simulate", "--config", str(file), "--users", str(users), "--seed", str(seed),
               "--via", "api", "--truth", str(tmp_path / f"truth-{seed}.json"),
               "--duplicates", "0", "--out-of-order", "0", "--clock-skew", "0"]
    for effect in effects or (f"{key}.b=0",):
        command += ["--effect", effect]
    assert main(command) == 0


def eventually(read: Callable[[], T], done: Callable[[T], bool], timeout_s: float = 90,
               ) -> T:
    """`read()` once `done` holds of it; its last value, failing, after `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            assert done(value), f"not reached in {timeout_s:g} s: {value}"
            return value
        time.sleep(0.5)


def scheduler_changes(worker: WorkerProcess, key: str) -> list[dict[str, Any]]:
    history = admin(worker).get(f"/experiments/{key}/history")["history"]
    return [entry for entry in history if entry["actor"] == "scheduler"]


def served_variants(worker: WorkerProcess, key: str, users: int) -> dict[str, tuple[str, str]]:
    """What `GET /assignments` gives each of `users` users for `key`: variant and reason."""
    client = worker.client()
    answers = {}
    for i in range(users):
        body = client.get("/assignments", user_id=f"user-{i:07d}")
        answer = body["assignments"][key]
        answers[f"user-{i:07d}"] = answer["variant"], answer["reason"]
    return answers
