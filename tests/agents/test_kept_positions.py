"""Exact through kills and misleading offsets: readers go by the positions they keep.

A worker of its own takes batches through its intake and is SIGKILLed while they
are posted (the first time before it has ever joined its group) and after the
last, or its group's committed offsets are moved while it is stopped. Each time
user_metrics, exposures_raw and events_raw must end exactly as accepted.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from abstream.admin_client import ApiError
from tests.agents.kill_runs import KillRun
from tests.agents.traffic import metric
from tests.servers import Servers

pytestmark = pytest.mark.infra
PORT = 26476
SERIES = 10


def ready(run: KillRun) -> bool:
    try:
        return bool(run.worker.client().get("/ready").get("ready"))
    except ApiError as exc:  # 503 until it is
        assert exc.status == 503
        return False


async def kill_three_times(run: KillRun) -> tuple[Any, Any]:
    """Kill before the worker has joined its group, while batches are posted, and right
    after the last one; restart each time."""
    run.worker.start(until="health")
    run.create_experiment()
    posts = run.batches(rounds=4)
    await run.post(posts[:1])
    assert not ready(run), "the first kill must come before the worker joins its group"
    run.worker.kill()
    run.worker.start(until="health")
    await run.post(posts[1:len(posts) // 2])
    run.worker.kill()
    run.worker.start()
    await run.post(posts[len(posts) // 2:])
    run.worker.kill()
    run.worker.start()
    return await run.settled()


@pytest.mark.parametrize("attempt", range(SERIES))
async def test_killed_three_times_ends_exact(servers: Servers, tmp_path: Path,
                                             attempt: int) -> None:
    run = KillRun(servers, PORT, tmp_path / "worker.log")
    try:
        found, want = await kill_three_times(run)
        assert found == want, f"see {run.worker.log_file}"
    finally:
        run.close()


async def test_killed_five_times_at_random_points_ends_exact(servers: Servers,
                                                             tmp_path: Path) -> None:
    run = KillRun(servers, PORT, tmp_path / "worker.log")
    chance = random.Random(17)
    try:
        run.open()
        posts = run.batches(rounds=6)
        kills = sorted(chance.sample(range(1, len(posts)), 5))
        for start, stop in zip([0, *kills], [*kills, len(posts)], strict=True):
            await run.post(posts[start:stop])
            if start != kills[-1]:
                run.worker.kill()
                run.worker.start(until=chance.choice(["health", "ready"]))
        found, want = await run.settled()
        assert found == want, f"see {run.worker.log_file}"
    finally:
        run.close()


@pytest.mark.parametrize("moved_to", ["beginning", "end"])
async def test_committed_offsets_moved_while_stopped_change_nothing(
        servers: Servers, tmp_path: Path, moved_to: str) -> None:
    """To the beginning: everything is read again and skipped. To the end, past records
    produced while the worker was stopped: they are read all the same."""
    run = KillRun(servers, PORT, tmp_path / "worker.log")
    try:
        run.open()
        await run.post(run.batches(rounds=3))
        found, want = await run.settled()
        assert found == want, f"see {run.worker.log_file}"
        run.worker.stop()
        unread = run.batches(rounds=2)
        if moved_to == "end":  # records the group's offsets are then moved past
            await run.produce(unread)
        await run.move_group_offsets(moved_to)
        run.worker.start()
        if moved_to == "beginning":
            await run.post(unread)
        found, want = await run.settled()
        assert found == want, f"see {run.worker.log_file}"
        if moved_to == "beginning":  # the join read on from where it stood
            assert metric(run.worker, "abstream_events_in_total") == sum(
                len(events) for _, events in unread)
    finally:
        run.close()
