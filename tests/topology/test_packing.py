"""Packing events into batch records by partition, under a size bound."""

from __future__ import annotations

from aiokafka.partitioner import DefaultPartitioner

from schemas import current_registry, encode, event_reader
from topology.packing import pack, partition_of


def goal(user: str, n: int) -> tuple[bytes, bytes]:
    return user.encode(), encode("goal_event", {
        "event_id": f"{user}-{n}", "user_id": user, "name": "purchase", "value": None,
        "timestamp": 1, "received_at": 1, "attributes": {"pad": "x" * 100}})


def test_partitions_are_those_of_kafkas_default_partitioner() -> None:
    everyone = list(range(6))
    for user in ("a", "u-1", "ü", "x" * 300):
        assert partition_of(user.encode(), 6) == DefaultPartitioner()(user.encode(), everyone,
                                                                     everyone)


def test_each_partition_gets_its_events_in_order_under_the_bound() -> None:
    events = [goal(f"u{i % 10}", i) for i in range(200)]
    read = event_reader("goal_event", current_registry())
    packed = pack("goal_event", events, 4, max_bytes=3_000)
    assert all(len(value) <= 3_000 + 10 for _, _, value in packed)  # header and counts
    seen: dict[int, list[str]] = {}
    for partition, key, value in packed:
        batch, is_batch = read(value)
        assert is_batch and key == batch[0]["user_id"].encode()
        assert {partition_of(e["user_id"].encode(), 4) for e in batch} == {partition}
        seen.setdefault(partition, []).extend(e["event_id"] for e in batch)
    for partition, ids in seen.items():
        assert ids == [f"u{i % 10}-{i}" for i in range(200)
                       if partition_of(f"u{i % 10}".encode(), 4) == partition]
    assert len(packed) > len(seen)  # the bound split some partition's events


def test_nothing_packs_into_nothing() -> None:
    assert pack("exposure", [], 3) == []
