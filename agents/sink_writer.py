"""Facts from the facts topic into the results store, in batches, never past what it wrote.

A Faust agent takes up to `ABSTREAM_SINK_BATCH_ROWS` facts (or what arrived within
`ABSTREAM_SINK_BATCH_S`), turns them into `user_metrics` rows and inserts them.
When the store is down the insert is retried with backoff, for as long as it
takes: the agent does not finish the batch, so Faust neither acknowledges nor
commits it, and its consumer stops fetching once its buffers are full. Writing a
batch twice (after a crash between the insert and the commit) is harmless: the
table keeps each user's highest version.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any, TypeVar

import faust

from agents import metrics
from agents.results_store import ResultsStore
from schemas import SchemaError, decode
from sinks import Sink, SinkError
from sinks.tables import USER_METRIC_COLUMNS, user_metric_rows
from topology.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 30.0


async def with_backoff(attempt: Callable[[], Awaitable[T]], what: str) -> T:
    """Await `attempt()` until it succeeds, waiting longer after each failure."""
    delay = BACKOFF_FIRST_S
    while True:
        try:
            return await attempt()
        except SinkError as exc:
            metrics.SINK_ERRORS.inc()
            log.warning("%s failed, retrying in %.1f s: %s", what, delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, BACKOFF_MAX_S)


def fact_rows(values: list[bytes | None]) -> tuple[list[tuple[Any, ...]], int]:
    """`user_metrics` rows of encoded facts, and how many could not be decoded."""
    rows, broken = [], 0
    for value in values:
        try:
            rows.extend(user_metric_rows(decode("fact", value or b"")))
        except SchemaError:
            broken += 1
    return rows, broken


def register_sink_writer(app: faust.App, settings: Settings, store: ResultsStore) -> None:
    facts = app.topic(settings.topics.facts, key_serializer="raw", value_serializer="raw")

    @app.agent(facts, name="sink-writer")
    async def write(stream: faust.StreamT) -> None:
        # The schema is there from start-up, before any fact.
        await with_backoff(partial(store.call, _nothing), "opening the results store")
        async for events in stream.take_events(settings.sink_batch_rows,
                                               within=settings.sink_batch_s):
            rows, broken = fact_rows([event.message.value for event in events])
            if broken:  # written by this pipeline: never expected, but never silent
                log.error("%d facts could not be decoded and were skipped", broken)
            await with_backoff(partial(store.call, partial(_insert, rows=rows)),
                               f"writing {len(rows)} rows")
            metrics.SINK_ROWS.labels("user_metrics").inc(len(rows))
            newest = max(event.message.timestamp for event in events)
            metrics.SINK_LAG.set(max(0.0, time.time() - newest))


def _insert(sink: Sink, rows: list[tuple[Any, ...]]) -> int:
    return sink.insert("user_metrics", USER_METRIC_COLUMNS, rows)


def _nothing(sink: Sink) -> None:
    """Opening the store (and migrating it) is all there is to do."""
