"""The corrections to Faust that keep table state whole across rebalances."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import uuid
from types import SimpleNamespace
from typing import Any

import faust
import pytest
from faust.types import TP

from topology.faust_fixes import (
    WRITTEN_FOR,
    UntestedVersion,
    check_versions,
    drop_queued,
    fetch_only_partitions_asked_for,
    keep_changelog_events,
    set_current_event,
)

CHANGELOG = "app-users-changelog"


def event(partition: int, offset: int) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(tp=TP(CHANGELOG, partition), offset=offset))


def app() -> faust.App:
    return faust.App(f"fixes-{uuid.uuid4().hex[:8]}", broker="kafka://127.0.0.1:1")


def offsets(queue: asyncio.Queue) -> list[tuple[int, int]]:
    return [(e.message.tp.partition, e.message.offset) for e in queue._queue]  # type: ignore[attr-defined]


async def test_resuming_flow_control_empties_faust_own_queue_but_not_the_guarded_one() -> None:
    plain, guarded = app(), app()
    keep_changelog_events(guarded)
    for each in (plain, guarded):
        for offset in range(3):
            each.tables.changelog_queue.put_nowait(event(0, offset))
        each.flow_control.resume()  # what Faust does at the end of every recovery
    assert offsets(plain.tables.changelog_queue) == []  # the standby copy would skip these
    assert offsets(guarded.tables.changelog_queue) == [(0, 0), (0, 1), (0, 2)]


async def test_events_of_partitions_no_longer_read_are_skipped_in_order() -> None:
    guarded = app()
    keep_changelog_events(guarded)
    recovery, queue = guarded.tables.recovery, guarded.tables.changelog_queue
    recovery.active_tps.add(TP(CHANGELOG, 0))
    recovery.standby_tps.add(TP(CHANGELOG, 1))
    for partition, offset in [(2, 7), (0, 5), (2, 8), (1, 9), (0, 6)]:
        queue.put_nowait(event(partition, offset))
    got = [await asyncio.wait_for(queue.get(), 1) for _ in range(3)]
    assert [(e.message.tp.partition, e.message.offset) for e in got] == [(0, 5), (1, 9), (0, 6)]
    assert queue.empty()


async def test_dropping_a_partitions_queued_events_keeps_the_others_and_frees_room() -> None:
    queue: asyncio.Queue = asyncio.Queue(maxsize=3)
    for partition, offset in [(0, 1), (1, 1), (0, 2)]:
        queue.put_nowait(event(partition, offset))
    waiting = asyncio.ensure_future(queue.put(event(1, 2)))  # the queue is full
    await asyncio.sleep(0)
    assert not waiting.done()
    drop_queued(queue, {TP(CHANGELOG, 0)})
    await asyncio.wait_for(waiting, 1)
    assert offsets(queue) == [(1, 1), (1, 2)]


class Event:
    def __init__(self, partition: int) -> None:
        self.message = SimpleNamespace(tp=TP("app.events", partition), offset=0)


def test_the_current_event_tables_read_is_set_for_this_task_only() -> None:
    def inside() -> tuple[object, object]:
        event = Event(3)
        set_current_event(event)  # type: ignore[arg-type]
        return event, faust.streams.current_event()

    event, current = contextvars.copy_context().run(inside)
    assert current is event
    assert faust.streams.current_event() is None  # other contexts (the stream's) unchanged


class RecordingFetcher:
    """Stands in for the Kafka client's fetcher (a race with its consumer thread cannot
    be produced on demand): notes the partitions each fetch waits on, and pauses the
    last one while it waits, as Faust does when a table recovery ends."""

    _closed = False

    def __init__(self, live: set[TP]) -> None:
        self.live = live
        self.asked: list[set[TP]] = []
        self._subscriptions = SimpleNamespace(fetch_context=contextlib.nullcontext)

    async def fetched_records(self, partitions: Any, timeout: float = 0,
                              max_records: int | None = None) -> dict:
        self.live.clear()
        self.asked.append(set(partitions))
        return {tp: ["record"] for tp in partitions}


async def test_a_fetch_reads_the_partitions_unpaused_when_it_started_and_none_if_none() -> None:
    guarded = app()
    fetch_only_partitions_asked_for(guarded)
    live = {TP("app.events", 0)}
    fetcher = RecordingFetcher(live)
    client = SimpleNamespace(_closed=False, _fetcher=fetcher)
    fetch = guarded.consumer._thread._fetch_records
    assert await fetch(client, live, timeout=1) == {TP("app.events", 0): ["record"]}
    assert fetcher.asked == [{TP("app.events", 0)}]  # not the set emptied meanwhile
    assert await fetch(client, live, timeout=1) == {}  # nothing unpaused: nothing fetched
    assert len(fetcher.asked) == 1


def test_an_untested_faust_or_aiokafka_is_refused_with_what_to_do() -> None:
    tested = {name: versions[-1] for name, versions in WRITTEN_FOR.items()}
    check_versions(tested.__getitem__)  # the tested versions pass
    newer = {**tested, "faust-streaming": "0.16.0"}
    with pytest.raises(UntestedVersion, match=r"faust-streaming 0\.16\.0 .* install "
                                              r"faust-streaming==0\.15\.3"):
        check_versions(newer.__getitem__)


def test_the_installed_versions_are_the_tested_ones() -> None:
    assert check_versions() is None  # pyproject.toml pins what the fault suite ran on
