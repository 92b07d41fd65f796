"""Corrections to faust-streaming 0.15.3 that exactness under crashes depends on.

The first two wrap a method of the app's producer or consumer; both are tested by
the SIGKILL-and-restart test of the pipeline (tests/agents/test_crash.py).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

import faust

DRAIN_STALL_S = 5.0


def drain_buffer_before_commit(app: faust.App) -> None:
    """Make Faust's pre-commit flush wait for the buffered table changelog writes.

    Faust flushes its producer before it commits offsets, but the buffer of table
    changelog writes gives up after 0.1 s without a message sent, which under load
    lets a commit overtake writes still buffered: after a crash those state changes
    would be lost with their offsets committed. Here the flush waits as long as the
    buffer keeps draining, giving up only after DRAIN_STALL_S without progress (as
    during a rebalance, when sends wait on it).
    """
    producer = app.producer
    flush = producer.flush

    async def flush_everything() -> None:
        buffer = producer.buffer
        while buffer.size:
            buffer.message_sent.clear()
            try:
                await asyncio.wait_for(buffer.message_sent.wait(), DRAIN_STALL_S)
            except TimeoutError:
                break
        await flush()

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
