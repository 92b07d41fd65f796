"""Topics into the results store, in batches, never past what was written.

Per topic (facts → `user_metrics`, exposures → `exposures_raw`, goal events →
`events_raw`, a row per event of single and batch records alike, dead letters →
`dead_letters`, the config audit → `experiment_audit`)
a Faust agent takes up to `ABSTREAM_SINK_BATCH_ROWS` messages (or what arrived
within `ABSTREAM_SINK_BATCH_S`), turns them into rows and inserts them.
When the store is down the insert is retried with backoff, for as long as it
takes: the agent does not finish the batch, so Faust neither acknowledges nor
commits it, and its consumer stops fetching once its buffers are full. Writing a
batch twice (after a crash between the insert and the commit) is harmless: every
table is a ReplacingMergeTree over the row's identity (`user_metrics` keeps each
user's highest version per metric, whatever variant it says).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import faust

from agents import metrics
from agents.results_store import ResultsStore
from experiments import ConfigSnapshot
from experiments.exposures import disagrees
from schemas import SchemaError, current_registry, decode, event_reader
from sinks import Sink, SinkError
from sinks.tables import (
    AUDIT_COLUMNS,
    DEAD_LETTER_COLUMNS,
    EVENT_COLUMNS,
    EXPOSURE_COLUMNS,
    USER_METRIC_COLUMNS,
    audit_row,
    dead_letter_row,
    event_row,
    exposure_row,
    user_metric_rows,
)
from topology.faust_fixes import stop_waiting_for
from topology.settings import Settings
from topology.topics import TopicNames

log = logging.getLogger(__name__)
T = TypeVar("T")
BACKOFF_FIRST_S, BACKOFF_MAX_S = 0.5, 30.0


class WriterStopping(Exception):
    """The worker stops while the store is down: the batch is left unwritten (uncommitted)."""


async def with_backoff(attempt: Callable[[], Awaitable[T]], what: str,
                       stopping: Callable[[], bool] = lambda: False) -> T:
    """Await `attempt()` until it succeeds, waiting longer after each failure; give up
    (WriterStopping) once `stopping()` says the worker is shutting down."""
    delay = BACKOFF_FIRST_S
    while True:
        try:
            return await attempt()
        except SinkError as exc:
            metrics.SINK_ERRORS.inc()
            if stopping():
                raise WriterStopping(f"{what} failed while stopping: {exc}") from exc
            log.warning("%s failed, retrying in %.1f s: %s", what, delay, exc)
            await _sleep_unless(stopping, delay)
            delay = min(delay * 2, BACKOFF_MAX_S)


async def _sleep_unless(stopping: Callable[[], bool], seconds: float) -> None:
    """Sleep `seconds`, waking every few tenths to see whether the worker stops."""
    deadline = time.monotonic() + seconds
    while not stopping() and time.monotonic() < deadline:
        await asyncio.sleep(min(0.2, deadline - time.monotonic()))


@dataclass(frozen=True)
class Feed:
    """A topic written to a table: how one decoded message becomes rows."""

    table: str
    columns: tuple[str, ...]
    schema: str
    rows: Callable[[dict[str, Any], Message], list[tuple[Any, ...]]]
    batched: bool = False  # the topic also carries batch records of `schema`: a row per event


Message = tuple[str, int, int, bytes | None]  # topic, partition, offset, value


def feeds(topics: TopicNames,
          config: Callable[[], ConfigSnapshot] | None = None) -> dict[str, Feed]:
    """Every topic the store keeps, by topic name; `config` flags mismatched exposures."""
    return {
        topics.facts: Feed("user_metrics", USER_METRIC_COLUMNS, "fact",
                           lambda fact, _: user_metric_rows(fact)),
        topics.exposures: Feed("exposures_raw", EXPOSURE_COLUMNS, "exposure",
                               lambda exposure, _: [_exposure_row(exposure, config)], True),
        topics.events: Feed("events_raw", EVENT_COLUMNS, "goal_event",
                            lambda event, _: [event_row(event)], True),
        topics.deadletter: Feed("dead_letters", DEAD_LETTER_COLUMNS, "dead_letter",
                                lambda letter, at: [dead_letter_row(letter, *at[:3])]),
        topics.config_audit: Feed("experiment_audit", AUDIT_COLUMNS, "audit_record",
                                  lambda record, _: [audit_row(record)]),
    }


def _exposure_row(exposure: dict[str, Any],
                  config: Callable[[], ConfigSnapshot] | None) -> tuple[Any, ...]:
    # Against the config of now: before the worker has read it, nothing is flagged.
    mismatched = config is not None and disagrees(config(), exposure)
    if mismatched:
        metrics.EXPOSURE_MISMATCHES.labels(exposure["experiment"]).inc()
    return exposure_row(exposure, mismatched)


def feed_rows(feed: Feed, messages: list[Message]) -> tuple[list[tuple[Any, ...]], int]:
    """The rows of a batch of messages, and how many could not be decoded (and are skipped:
    what reaches these topics was checked on the way in)."""
    rows, broken = [], 0
    read = event_reader(feed.schema, current_registry()) if feed.batched else None
    for message in messages:
        payload = message[3] or b""
        try:
            records = read(payload)[0] if read else [decode(feed.schema, payload)]
        except SchemaError:
            broken += 1
            continue
        for record in records:
            rows.extend(feed.rows(record, message))
    return rows, broken


def register_sink_writer(app: faust.App, settings: Settings, store: ResultsStore,
                         config: Callable[[], ConfigSnapshot] | None = None) -> None:
    for topic, feed in feeds(settings.topics, config).items():
        _register_feed(app, settings, store, topic, feed)


def _register_feed(app: faust.App, settings: Settings, store: ResultsStore, topic: str,
                   feed: Feed) -> None:
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")

    @app.agent(source, name=f"sink-{feed.table}")
    async def write(stream: faust.StreamT) -> None:
        try:
            await _write_batches(app, settings, store, feed, topic, stream)
        except WriterStopping as exc:
            log.warning("%s; left for the next worker to write", exc)
            while True:  # until Faust stops the agents, which it does after the consumer
                stop_waiting_for(app, topic)
                await asyncio.sleep(0.5)


async def _write_batches(app: faust.App, settings: Settings, store: ResultsStore, feed: Feed,
                         topic: str, stream: faust.StreamT) -> None:
    def stopping() -> bool:
        return app.should_stop

    # The schema is there from start-up, before any row.
    await with_backoff(partial(store.call, _nothing), "opening the results store", stopping)
    async for events in stream.take_events(settings.sink_batch_rows,
                                           within=settings.sink_batch_s):
        messages = [(e.message.topic, e.message.partition, e.message.offset,
                     e.message.value) for e in events]
        rows, broken = feed_rows(feed, messages)
        if broken:
            log.error("%d messages of %s could not be decoded and were skipped",
                      broken, topic)
        insert = partial(_insert, table=feed.table, columns=feed.columns, rows=rows)
        await with_backoff(partial(store.call, insert),
                           f"writing {len(rows)} rows to {feed.table}", stopping)
        metrics.SINK_ROWS.labels(feed.table).inc(len(rows))
        if feed.table == "user_metrics":
            newest = max(event.message.timestamp for event in events)
            metrics.SINK_LAG.set(max(0.0, time.time() - newest))


def _insert(sink: Sink, table: str, columns: tuple[str, ...],
            rows: list[tuple[Any, ...]]) -> int:
    return sink.insert(table, columns, rows)


def _nothing(sink: Sink) -> None:
    """Opening the store (and migrating it) is all there is to do."""
