"""Killing the leader in the middle of a ramp step: the next leader neither skips nor repeats
a step, because the schedule's state is in the config log, not in the leader's memory."""

from __future__ import annotations

import shutil
import urllib.request
import uuid
from datetime import datetime
from pathlib import Path

import pytest

from abstream.worker_process import WorkerProcess
from tests.agents.ramp_traffic import create, eventually, experiment, scheduler_changes
from tests.servers import TEST_PORTS, Servers
from tests.workers import api_tokens, results_url
from topology.settings import load_settings

pytestmark = pytest.mark.infra
PORTS = (26966, 26967)
STEP_HOURS = 0.004  # 14.4 s


def is_leader(worker: WorkerProcess) -> bool:
    with urllib.request.urlopen(f"{worker.url}/metrics", timeout=10) as response:
        return "abstream_leader 1.0" in response.read().decode()


def test_a_leader_killed_mid_step_neither_skips_nor_repeats_a_step(
        servers: Servers, tmp_path: Path) -> None:
    prefix = f"leader-{uuid.uuid4().hex[:8]}"
    env = {"ABSTREAM_STACK": "test", "ABSTREAM_KAFKA_BOOTSTRAP": servers.bootstrap,
           "ABSTREAM_TOPIC_PREFIX": prefix, "ABSTREAM_TOPIC_PARTITIONS": "2",
           "ABSTREAM_API_TOKENS": api_tokens(), "ABSTREAM_SINK_URL": results_url(servers),
           "ABSTREAM_KAFKA_SESSION_TIMEOUT_S": "6", "ABSTREAM_RAMP_CHECK_INTERVAL_S": "0.5",
           **{f"ABSTREAM_{k.upper()}": str(v) for k, v in TEST_PORTS.items()}}
    workers = [WorkerProcess(port, env, tmp_path / f"worker-{port}.log") for port in PORTS]
    try:
        for worker in workers:
            worker.start()
        leader = eventually(lambda: [w for w in workers if is_leader(w)],
                            lambda found: len(found) == 1)[0]
        survivor = next(w for w in workers if w is not leader)
        key = "leader_ramp"
        create(survivor, key, ramp=[{"coverage": 10, "min_hours": STEP_HOURS},
                                    {"coverage": 20, "min_hours": STEP_HOURS},
                                    {"coverage": 30}])
        eventually(lambda: experiment(survivor, key)["experiment"]["coverage"],
                   lambda coverage: coverage == 20)
        leader.kill()  # in the middle of step 2: it has 14 s to go
        done = eventually(lambda: experiment(survivor, key),
                          lambda e: e["ramp"]["state"] == "done", timeout_s=120)
        assert is_leader(survivor)
        applied = [c for c in scheduler_changes(survivor, key) if c["applied"]]
        assert [c["diff"]["coverage"] for c in applied] == [[10, 20], [20, 30]]
        assert done["experiment"]["ramp_state"]["step"] == 2
        # Step 2 lasted its full time, counted from when the dead leader started it.
        started = [datetime.fromisoformat(c["diff"]["ramp_state.step_started_at"][1])
                   for c in applied]
        assert (started[1] - started[0]).total_seconds() >= STEP_HOURS * 3600
    finally:
        for worker in workers:
            worker.stop()
        state = load_settings(stack="test", topic_prefix=prefix)
        shutil.rmtree(state.worker_dir.parent, ignore_errors=True)
