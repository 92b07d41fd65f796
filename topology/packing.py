"""Packing encoded events into batch records, one or more per partition.

Each event goes to the partition Kafka's default partitioner gives its key (the
user id): murmur2, as Java and librdkafka clients compute it, so a batch record
produced to that partition explicitly lands where each of its users' single
records would. A record is kept under `max_bytes` (the broker refuses records
over its `message.max.bytes`, 1 MiB by default).
"""

from __future__ import annotations

from collections.abc import Sequence

from aiokafka.partitioner import murmur2

from schemas import current_registry, frame_batch

MAX_BATCH_BYTES = 512 * 1024
MAX_BATCH_EVENTS = 5_000
Encoded = tuple[bytes | None, bytes]  # key, framed value
Packed = tuple[int, bytes | None, bytes]  # partition, key, framed batch record


def partition_of(key: bytes, partitions: int) -> int:
    """The partition of `key` by Kafka's default partitioner."""
    return (murmur2(key) & 0x7FFFFFFF) % partitions


def pack(kind: str, events: Sequence[Encoded], partitions: int,
         max_bytes: int = MAX_BATCH_BYTES, max_events: int = MAX_BATCH_EVENTS) -> list[Packed]:
    """Batch records of `kind` ("exposure", "goal_event" or "fact") holding `events`
    (keyed by user id, or a fact by its key; single-record framed), in order within each
    partition.

    A batch's key is its first event's key: it places the record where that user
    belongs, but its other users are only known from its events.
    """
    by_partition: dict[int, list[Encoded]] = {}
    for event in events:
        by_partition.setdefault(partition_of(event[0] or b"", partitions), []).append(event)
    registry = current_registry()
    return [(partition, chunk[0][0], frame_batch(kind, [value for _, value in chunk], registry))
            for partition, group in by_partition.items()
            for chunk in _chunks(group, max_bytes, max_events)]


def _chunks(events: list[Encoded], max_bytes: int, max_events: int) -> list[list[Encoded]]:
    chunks: list[list[Encoded]] = [[]]
    size = 0
    for event in events:
        if chunks[-1] and (size + len(event[1]) > max_bytes or len(chunks[-1]) >= max_events):
            chunks.append([])
            size = 0
        chunks[-1].append(event)
        size += len(event[1])
    return chunks if chunks[0] else []
