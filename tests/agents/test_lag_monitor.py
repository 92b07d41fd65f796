"""The consumer-lag gauge: the arithmetic, and partitions that move away drop out."""

from __future__ import annotations

from prometheus_client import REGISTRY

from agents.lag_monitor import lag, publish


def gauge(topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value("abstream_consumer_lag_messages",
                                     {"topic": topic, "partition": str(partition)})


def test_lag_is_the_high_watermark_minus_the_committed_offset() -> None:
    assert lag(120, 100) == 20
    assert lag(120, None) == 120  # nothing committed yet: all of it is behind
    assert lag(100, 100) == 0
    assert lag(90, 100) == 0  # a commit seen before the new high watermark
    assert lag(None, 5) is None and lag(-1, 5) is None  # not fetched yet: unknown


def test_partitions_no_longer_assigned_lose_their_series() -> None:
    reported = publish({("t.exposures", 0): 5, ("t.events", 1): 7}, set())
    assert gauge("t.exposures", 0) == 5 and gauge("t.events", 1) == 7
    reported = publish({("t.events", 1): 3}, reported)
    assert gauge("t.exposures", 0) is None
    assert gauge("t.events", 1) == 3
    assert reported == {("t.events", 1)}
