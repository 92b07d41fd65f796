"""Corrections to faust-streaming 0.15.3 that the tables and their standby copies need.

Where a source partition is read from is not Faust's business any more: readers
keep their positions with their own state (`topology.positions`) and
`seek_sources_to` makes Faust's seeks use them. What remains wraps methods of the
app's consumer or table recovery, or stands in for a private stream method: the
fault suite (tests/agents/test_faults.py, workers leaving and coming back while
standby copies are promoted) depends on them.
"""

from __future__ import annotations

import importlib.metadata
import logging
import weakref
from collections.abc import Awaitable, Callable, Collection, Mapping
from typing import Any

import faust
from faust.streams import _current_event as current_event
from faust.types import TP

from errors import AbstreamError

log = logging.getLogger(__name__)

# The versions these corrections were written for and tested with (the fault suite):
# they reach into private attributes, which another version may have changed.
WRITTEN_FOR = {"faust-streaming": ("0.15.3",), "aiokafka": ("0.14.0",)}


class UntestedVersion(AbstreamError):
    """The installed Faust or aiokafka is not one the corrections were tested with."""


def check_versions(installed: Callable[[str], str] = importlib.metadata.version) -> None:
    """Refuse to run on a Faust or aiokafka the corrections were not tested with."""
    for package, tested in WRITTEN_FOR.items():
        found = installed(package)
        if found not in tested:
            raise UntestedVersion(
                f"{package} {found} is installed, but abstream's corrections to it "
                f"(topology/faust_fixes.py) were tested with {', '.join(tested)} only: "
                f"install {package}=={tested[-1]}, or run the fault suite on {found} "
                "and add it to WRITTEN_FOR")


def apply_corrections(app: faust.App) -> None:
    """The corrections every app needs, applied once where the app is built
    (`topology.app`), after checking that the installed versions are the ones they were
    written for. `seek_sources_to` is applied by the join, which keeps the positions."""
    check_versions()
    keep_changelog_events(app)
    fetch_only_partitions_asked_for(app)


def last_committed(consumer: Any, tp: TP) -> int | None:
    """The offset Faust last committed for `tp` (None before the first commit).

    Faust 0.15.3 keeps it in the private ``Consumer._committed_offset``; its public
    ``committed()`` asks the broker, too slow for a metric read every few seconds.
    """
    return consumer._committed_offset.get(tp)


def seek_sources_to(app: faust.App, topics: Collection[str],
                    positions_of: Callable[[Collection[TP]], Awaitable[Mapping[TP, int | None]]],
                    ) -> None:
    """Make every seek of Faust's to committed offsets put the partitions of `topics` at
    the positions `positions_of` gives (at their first record where it gives None;
    where it gives nothing, at the committed offset).

    Faust seeks every assigned partition to its committed offset once it has recovered
    its tables, and again whenever it fetches while its flow is stopped; where nothing
    was committed the client kept whatever position earlier fetches had reached. The
    positions the readers keep with their own state are the ones to read from, and
    Faust takes what is returned here as committed: its next commit follows them.
    """
    consumer = app.consumer
    seek_to_committed = consumer.seek_to_committed

    async def seek_to_positions() -> dict:
        committed = dict(await seek_to_committed())
        mine = dict(await positions_of([tp for tp in committed if tp.topic in topics]))
        earliest = await consumer.earliest_offsets(*mine) if mine else {}
        starts = {}
        for tp, position in mine.items():
            # One applied record before the position is read again (its reader skips
            # it): Faust commits an offset only once it has acknowledged the record
            # before it, so without one the group's offsets would stay behind for good
            # on a partition where nothing new arrives.
            starts[tp] = earliest[tp] if position is None else max(position - 1, earliest[tp])
        if starts:
            await seek_in_thread(app, starts)
        return committed | starts

    consumer.seek_to_committed = seek_to_positions  # type: ignore[method-assign]


async def seek_in_thread(app: faust.App, positions: Mapping[TP, int]) -> None:
    """Seek partitions from the app's event loop without racing the client's fetches.

    Faust 0.15.3's ``Consumer.seek`` calls the client's seek from the calling thread,
    while the client fetches in its own: a fetch that is handing over records of the
    partition meanwhile crashes the worker (a KeyError in aiokafka's fetcher) or hands
    over records from before the seek. ``seek_wait`` runs the seek in the client's
    thread and returns once the new positions are set.
    """
    await app.consumer.seek_wait(positions)


def fetch_only_partitions_asked_for(app: faust.App) -> None:
    """Hand Faust records of the partitions it asked for, and only those.

    Faust passes its live set of unpaused partitions to the client's consumer thread,
    which waits on it for up to a second. When the set becomes empty meanwhile, as
    when the last table being recovered is paused, the client reads the empty set as
    "every partition" and hands over records of paused partitions too: standby
    partitions that were just sought back to where their copy stands. Faust drops
    those records as paused, but the client's position has moved past them, so the
    standby copy never sees them and records the offsets after them as applied. Here
    the client gets a copy of the set taken when the fetch starts; an empty one
    fetches nothing.
    """
    thread = app.consumer._thread  # type: ignore[attr-defined]
    fetch_records = thread._fetch_records

    async def fetch_records_of(consumer: Any, active_partitions: Any,
                               timeout: float | None = None,
                               max_records: int | None = None) -> Any:
        if active_partitions is not None:  # None: a client-only app, every partition
            active_partitions = frozenset(active_partitions)
            if not active_partitions:
                return {}
        return await fetch_records(consumer, active_partitions, timeout=timeout,
                                   max_records=max_records)

    thread._fetch_records = fetch_records_of


def keep_changelog_events(app: faust.App) -> None:
    """Never drop a table changelog event that was fetched for a partition still read.

    Faust empties its queue of changelog events whenever flow control resumes, but
    the consumer's position does not go back. At the end of a recovery that resume
    comes while the standby partitions are being read: the standby copy misses the
    events dropped, yet records the offsets after them as applied. When a worker
    leaves and a standby is promoted, its users lose that history (the records were
    in the changelog all along) and newer states are written over them.

    Here the queue is never emptied by flow control. Events stay in order: what is
    queued for a partition read before and after a rebalance continues what was
    applied, and anything fetched again after a seek is skipped by offset. What is
    queued for a partition no longer read is dropped when it comes out (Faust would
    apply it to the wrong partition's offsets), and a partition read again after a
    pause starts from an empty queue, so no older events jump its gap.
    """
    tables = app.tables
    recovery = tables.recovery
    queue = tables.changelog_queue
    app.flow_control._queues.discard(queue)  # type: ignore[attr-defined]
    get_event = queue.get
    on_rebalance = recovery.on_rebalance

    def partitions_read() -> set[TP]:
        return recovery.active_tps | recovery.standby_tps

    async def get_event_of_partition_read() -> Any:
        while True:
            event = await get_event()
            tp = event.message.tp
            if tp in recovery.active_tps or tp in recovery.standby_tps:  # no set per event
                return event

    async def on_rebalance_forgetting_gaps(*args: Any, **kwargs: Any) -> None:
        before = partitions_read()
        await on_rebalance(*args, **kwargs)
        drop_queued(queue, partitions_read() - before)

    queue.get = get_event_of_partition_read  # type: ignore[method-assign]
    recovery.on_rebalance = on_rebalance_forgetting_gaps  # type: ignore[method-assign]


def drop_queued(queue: Any, tps: Collection[TP]) -> None:
    """Remove the events of partitions `tps` waiting in a changelog event queue."""
    if not tps:
        return
    kept = [event for event in queue._queue if event.message.tp not in tps]
    dropped = len(queue._queue) - len(kept)
    queue._queue.clear()
    queue._queue.extend(kept)
    for _ in range(dropped):  # room for senders waiting on a full queue
        queue._wakeup_next(queue._putters)


def stop_waiting_for(app: faust.App, topic: str) -> None:
    """Stop Faust's shutdown from waiting for `topic`'s messages to be acknowledged.

    A sink writer that gives up its batch at shutdown never acknowledges them, so their
    offsets are not committed and the next worker reads them again; Faust 0.15.3's stop
    would wait for them in the private ``Consumer._unacked_messages`` until killed.
    Messages another agent still holds are only read again, which the join tolerates.
    """
    consumer = app.consumer
    consumer._unacked_messages -= {message for message in consumer._unacked_messages
                                   if message.tp.topic == topic}


def set_current_event(event: faust.EventT) -> None:
    """Make `event` the one table reads and writes go with: its partition picks the
    RocksDB store read or written, and the changelog partition. Inside a batch from
    `take_events` the current event may belong to another partition than the key's.

    Only the task's context variable is set, which is what tables read. The stream's
    own `current_event` must stay as it is: `take_events` reads it to record which
    event the next buffered value came from, and changing it there puts an event of
    this batch in the next one instead of the new event, which is then never
    processed, yet its offset gets committed with the ones after it.
    """
    current_event.set(weakref.ref(event))
