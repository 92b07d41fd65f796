"""A worker killed with SIGKILL mid-stream and restarted applies every event exactly once."""

from __future__ import annotations

import asyncio
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from abstream.simulate import wait_until_processed
from abstream.worker_process import WorkerProcess
from tests.agents.test_pipeline import latest_facts
from tests.agents.traffic import exposure, goal, metric
from tests.kafka_reading import read_topic
from tests.servers import TEST_PORTS, Servers
from tests.workers import api_tokens
from topology.producer import EventProducer
from topology.settings import load_settings
from topology.topics import TopicNames

pytestmark = pytest.mark.infra
USERS, GOALS = 200, 10


# Committing every 20 s and killing early: nothing is committed, and the restart reads
# again, from the positions its recovered table keeps, what it had applied (skipped
# whole, or event by event where the positions were lost with the kill). Committing
# every 0.5 s and killing later: some of what was applied is committed and some is not.
@pytest.mark.parametrize(("commit_interval_s", "kill_after_goals"), [(20, 0), (0.5, USERS)])
async def test_sigkill_and_restart_applies_nothing_twice(
    servers: Servers, tmp_path: Path, commit_interval_s: float, kill_after_goals: int
) -> None:
    prefix = f"crash-{uuid.uuid4().hex[:8]}"
    env = {"ABSTREAM_STACK": "test", "ABSTREAM_KAFKA_BOOTSTRAP": servers.bootstrap,
           "ABSTREAM_TOPIC_PREFIX": prefix, "ABSTREAM_TOPIC_PARTITIONS": "2",
           "ABSTREAM_API_TOKENS": api_tokens(),
           "ABSTREAM_KAFKA_SESSION_TIMEOUT_S": "6",
           "ABSTREAM_COMMIT_INTERVAL_S": str(commit_interval_s),
           "ABSTREAM_WRITE_RESULTS": "false",
           **{f"ABSTREAM_{k.upper()}": str(v) for k, v in TEST_PORTS.items()}}
    worker = WorkerProcess(26366, env, tmp_path / "worker.log")
    worker.start()
    try:
        facts = await _kill_and_restart(worker, servers, kill_after_goals)
        wrong = {user: f["values"]["n"] for user, f in facts.items() if f["values"]["n"] != GOALS}
        assert not wrong, f"users without exactly {GOALS} goals in {prefix}: {wrong}"
        assert len(facts) == USERS
        if commit_interval_s > 10:  # nothing was committed: what was applied is read again
            again = (metric(worker, "abstream_replayed_total")
                     + metric(worker, "abstream_records_read_again_total"))
            assert again > 0
    finally:
        worker.stop()
        state = load_settings(stack="test", topic_prefix=prefix)
        shutil.rmtree(state.worker_dir.parent, ignore_errors=True)


async def _kill_and_restart(worker: WorkerProcess, servers: Servers,
                            kill_after_goals: int) -> dict[str, dict[str, Any]]:
    """Kill the worker once `kill_after_goals` goals are applied, send the second half of
    the goals, restart it; the latest facts once all goals show (or after 60 s)."""
    admin = worker.client("alice-secret-token")
    key = "crash_test"
    admin.request("POST", "/experiments", {
        "key": key, "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "n", "kind": "count", "event": "purchase"}]})
    admin.request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    names = TopicNames(worker.env["ABSTREAM_TOPIC_PREFIX"])
    producer = EventProducer(servers.bootstrap, names)
    await producer.start()
    now = int(time.time() * 1000) - 60_000
    try:
        await producer.send_exposures([exposure(f"u{i}", key, "a", now) for i in range(USERS)])
        first, second = _goals(now, 0, GOALS // 2), _goals(now, GOALS // 2, GOALS)
        await producer.send_goals(first)
        await _until(lambda facts: len(facts) >= USERS // 4
                     and _total(facts) >= kill_after_goals, servers, names.facts)
        # Facts go out before the users' records reach their changelog: once some have,
        # the restart has something to read again.
        await _until_records(servers.bootstrap, f"{names.prefix}-users-changelog")
        worker.kill()
        await producer.send_goals(second)
        worker.start()
    finally:
        await producer.stop()
    # Every input applied and committed (a commit flushes the facts first): the facts are final.
    await wait_until_processed(servers.bootstrap, names.prefix, names, timeout_s=180,
                               facts=False)
    return await latest_facts(servers.bootstrap, names.facts)


def _total(facts: dict[str, dict[str, Any]]) -> float:
    return sum(fact["values"]["n"] for fact in facts.values())


def _goals(now: int, start: int, stop: int) -> list[dict[str, Any]]:
    return [goal(f"u{i}", j, now) for j in range(start, stop) for i in range(USERS)]


async def _until_records(bootstrap: str, topic: str) -> None:
    deadline = time.monotonic() + 60
    while not await read_topic(bootstrap, topic):
        assert time.monotonic() < deadline, f"nothing written to {topic} in 60 s"
        await asyncio.sleep(0.2)


async def _until(done: Any, servers: Servers, topic: str) -> dict[str, dict[str, Any]]:
    deadline = time.monotonic() + 60
    while True:
        facts = await latest_facts(servers.bootstrap, topic)
        if done(facts) or time.monotonic() > deadline:
            return facts
        await asyncio.sleep(0.5)
