"""Consumer lag of the join's inputs, per assigned partition, as a Prometheus gauge.

Every few seconds each worker reports, for the partitions of the exposures and
events topics it owns, the high watermark minus its committed offset: what
Kafka holds that the worker has not yet applied and committed. Partitions that
moved to another worker drop out, so the series of the whole group never count
a partition twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

import faust

from agents import metrics
from agents.timers import guarded
from topology.faust_fixes import last_committed
from topology.settings import Settings

INTERVAL_S = 5.0
Partition = tuple[str, int]  # topic, partition


def lag(highwater: int | None, committed: int | None) -> int | None:
    """Messages behind; None while the high watermark is unknown (nothing fetched yet)."""
    if highwater is None or highwater < 0:
        return None
    return max(0, highwater - (committed or 0))


def publish(lags: Mapping[Partition, int], previous: Iterable[Partition]) -> set[Partition]:
    """Set the gauge for `lags`; remove the partitions reported before and not now."""
    for (topic, partition), value in lags.items():
        metrics.CONSUMER_LAG.labels(topic, str(partition)).set(value)
    for topic, partition in set(previous) - set(lags):
        metrics.CONSUMER_LAG.remove(topic, str(partition))
    return set(lags)


def register_lag_monitor(app: faust.App, settings: Settings) -> None:
    inputs = {settings.topics.exposures, settings.topics.events}
    reported: set[Partition] = set()

    @app.timer(INTERVAL_S)
    @guarded("consumer_lag")
    async def report_lag() -> None:
        nonlocal reported
        consumer = app.consumer
        lags: dict[Partition, int] = {}
        for tp in consumer.assignment():
            if tp.topic not in inputs:
                continue
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # not fetched yet, or mid-rebalance
                continue
            behind = lag(highwater, last_committed(consumer, tp))
            if behind is not None:
                lags[tp.topic, tp.partition] = behind
        reported = publish(lags, reported)
