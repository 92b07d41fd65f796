"""Corrections to faust-streaming 0.15.3 that exactness under crashes depends on.

The first two wrap a method of the app's producer or consumer; both are tested by
the SIGKILL-and-restart test of the pipeline (tests/agents/test_crash.py).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Collection

import faust

log = logging.getLogger(__name__)

DRAIN_STALL_S = 30.0


def drain_buffer_before_commit(app: faust.App) -> None:
    """Make Faust's pre-commit flush wait for the buffered table changelog writes.

    Faust flushes its producer before it commits offsets, but the buffer of table
    changelog writes gives up after 0.1 s without a message sent, and it counts as
    empty while its last message is still on its way to the client. Either lets a
    commit overtake state changes: after a crash, recovery could restore an older
    state of a user whose newer changes' offsets were committed. Here the flush
    waits until the buffer is empty and no send is in flight, giving up only after
    DRAIN_STALL_S without progress (as during a rebalance, when sends wait on it).
    Must run before the app starts: the buffer's sending task binds its send method
    when it starts.
    """
    producer = app.producer
    buffer = producer.buffer
    flush = producer.flush
    send_pending = buffer._send_pending
    in_flight = 0

    async def counted_send(message: object) -> None:
        nonlocal in_flight
        in_flight += 1
        try:
            await send_pending(message)
        finally:
            in_flight -= 1

    async def flush_everything() -> None:
        while buffer.size or in_flight:
            buffer.message_sent.clear()
            try:
                await asyncio.wait_for(buffer.message_sent.wait(), DRAIN_STALL_S)
            except TimeoutError:
                log.warning("changelog writes stalled for %.0f s; committing without them",
                            DRAIN_STALL_S)
                break
        await flush()

    buffer._send_pending = counted_send  # type: ignore[method-assign]
    producer.flush = flush_everything  # type: ignore[method-assign]


def seek_uncommitted_to_beginning(app: faust.App, topics: Collection[str]) -> None:
    """Read a source partition without a committed offset from its beginning, always.

    After recovering its tables Faust seeks every assigned partition to its
    committed offset, but where none has been committed yet the client keeps its
    current position, and that position is past whatever was fetched while the
    tables were being recovered and then thrown away. A worker killed before its
    first commit and restarted would skip those messages for good. Seeking such
    partitions of `topics` back to the beginning makes the position what
    `auto_offset_reset="earliest"` promises.
    """
    consumer = app.consumer
    seek_to_committed = consumer.seek_to_committed

    async def seek_to_committed_or_beginning() -> dict:
        committed = dict(await seek_to_committed())
        uncommitted = [tp for tp, offset in committed.items()
                       if offset is None and tp.topic in topics]
        if uncommitted:
            for tp, offset in (await consumer.earliest_offsets(*uncommitted)).items():
                await consumer.seek(tp, offset)
        return committed

    consumer.seek_to_committed = seek_to_committed_or_beginning  # type: ignore[method-assign]


def set_current_event(stream: faust.StreamT, event: faust.EventT) -> None:
    """Make `event` the one table reads and writes go with: its partition picks the
    RocksDB store read or written, and the changelog partition. Inside a batch from
    `take_events` the current event may belong to another partition than the key's."""
    stream._set_current_event(event)  # type: ignore[attr-defined]
