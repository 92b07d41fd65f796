"""Traffic and probes for the tests that run real workers: events, metrics, a SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest

from abstream.worker_process import WorkerProcess
from experiments.exposures import exposure_event


def exposure(user: str, experiment: str, variant: str, at: int) -> dict[str, Any]:
    return exposure_event(event_id=f"x-{experiment}-{user}", user_id=user,
                          experiment=experiment, variant=variant, phase=1, config_version=1,
                          timestamp=at, attributes={}, source="test")


def goal(user: str, index: int, at: int) -> dict[str, Any]:
    """The user's `index`-th purchase, `index` ms after `at` + 1 s."""
    return {"event_id": f"g-{user}-{index}", "user_id": user, "name": "purchase",
            "value": 1.0, "timestamp": at + 1000 + index, "received_at": at,
            "attributes": {}}


def metric(worker: WorkerProcess, name: str) -> float:
    """A counter of the worker's /metrics, summed over its labels."""
    with urllib.request.urlopen(f"{worker.url}/metrics") as response:
        lines = response.read().decode().splitlines()
    return sum(float(line.split()[-1]) for line in lines
               if line.startswith((f"{name} ", f"{name}{{")))


def intake_steps(key: str, at: int, users: int,
                 goals_of: Callable[[int], int]) -> list[tuple[str, dict[str, Any]]]:
    """Posts for a worker's intake: user i of `key` exposed to variant a or b in turn at
    `at`, then `goals_of(i)` purchases."""
    steps: list[tuple[str, dict[str, Any]]] = []
    for i in range(users):
        user = f"{key}-u{i}"
        steps.append(("/exposures", {"event_id": f"{user}-x", "user_id": user,
                                     "experiment": key, "variant": "ab"[i % 2],
                                     "timestamp": at}))
        steps += [("/events", {"event_id": f"{user}-g{j}", "user_id": user,
                               "name": "purchase", "timestamp": at + 1000 + j})
                  for j in range(goals_of(i))]
    return steps


def sigterm_exit_code(worker: WorkerProcess, timeout_s: float) -> int:
    """SIGTERM the worker and return its exit code; fail the test if it outlives
    `timeout_s`. Prints how long it took to stop."""
    assert worker.process is not None
    started = time.monotonic()
    os.killpg(worker.process.pid, signal.SIGTERM)
    try:
        code = worker.process.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {timeout_s:g} s after SIGTERM; see {worker.log_file}")
    print(f"stopped in {time.monotonic() - started:.1f} s")
    return code
