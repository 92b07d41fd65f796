"""Topics into the results store, in batches, never past what was written.

Per topic (facts → `user_metrics`, exposures → `exposures_raw`, goal events →
`events_raw`, a row per event of single and batch records alike, dead letters →
`dead_letters`, the config audit → `experiment_audit`)
a Faust agent takes up to `ABSTREAM_SINK_BATCH_ROWS` messages (or what arrived
within `ABSTREAM_SINK_BATCH_S`), turns them into rows and inserts them.
Each writer keeps its position per partition in the store, in `sink_positions`,
right after the rows (`topology.positions`): after any crash or rebalance it goes
on from there, whatever the consumer group has committed, and a partition it has
never written starts at its first record. When the store is down the write is
retried with backoff, for as long as it takes, and the consumer stops fetching
once its buffers are full. Writing rows twice (after a crash between the rows and
the position) is harmless: every table is a ReplacingMergeTree over the row's
identity (`user_metrics` keeps each user's highest version per metric, whatever
variant it says).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

import faust
from faust.types import TP

from agents import metrics
from agents.read_positions import GatedReader, KeptPositions
from agents.results_store import ResultsStore
from experiments import ConfigSnapshot
from experiments.exposures import disagrees
from schemas import SchemaError, current_registry, decode, event_reader
from sinks import Sink, SinkError
from sinks.positions import read_positions, write_positions
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
ASSIGNMENT_READ_S = 5.0


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
    compacted: bool = False  # the topic is compacted: offsets skipped are not records lost


Message = tuple[str, int, int, bytes | None]  # topic, partition, offset, value


def feeds(topics: TopicNames,
          config: Callable[[], ConfigSnapshot] | None = None) -> dict[str, Feed]:
    """Every topic the store keeps, by topic name; `config` flags mismatched exposures."""
    return {
        topics.facts: Feed("user_metrics", USER_METRIC_COLUMNS, "fact",
                           lambda fact, _: user_metric_rows(fact), True, compacted=True),
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
                         positions: KeptPositions,
                         config: Callable[[], ConfigSnapshot] | None = None) -> None:
    for topic, feed in feeds(settings.topics, config).items():
        kept = StorePositions(store, f"sink-{feed.table}", lambda: app.should_stop)
        positions.add([topic], kept.at_assignment)
        _register_feed(app, settings, store, topic, feed, kept)


class StorePositions:
    """A sink writer's positions in the results store (`sink_positions`)."""

    def __init__(self, store: ResultsStore, reader: str, stopping: Callable[[], bool]) -> None:
        self.store, self.reader, self.stopping = store, reader, stopping

    async def in_agent(self, tps: Collection[TP], _: object) -> dict[TP, int | None]:
        """Read for as long as the store is down: the writer cannot write before."""
        kept = await with_backoff(partial(self.store.call, self._read),
                                  f"reading the positions of {self.reader}", self.stopping)
        return {tp: kept.get((tp.topic, tp.partition)) for tp in tps}

    async def at_assignment(self, tps: Collection[TP], _: object) -> dict[TP, int | None]:
        """Read within a few seconds, or say nothing: the partitions then start at their
        committed offsets, and the writer's gate seeks back once records arrive."""
        try:
            kept = await asyncio.wait_for(self.store.call(self._read), ASSIGNMENT_READ_S)
        except (SinkError, TimeoutError) as exc:
            log.warning("%s: positions unread at assignment (%s)", self.reader, exc)
            return {}
        return {tp: kept.get((tp.topic, tp.partition)) for tp in tps}

    def _read(self, sink: Sink) -> dict[tuple[str, int], int]:
        return read_positions(sink, self.reader)


def _register_feed(app: faust.App, settings: Settings, store: ResultsStore, topic: str,
                   feed: Feed, kept: StorePositions) -> None:
    source = app.topic(topic, key_serializer="raw", value_serializer="raw")

    @app.agent(source, name=f"sink-{feed.table}")
    async def write(stream: faust.StreamT) -> None:
        try:
            await _write_batches(app, settings, store, feed, topic, stream, kept)
        except WriterStopping as exc:
            log.warning("%s; left for the next worker to write", exc)
            while True:  # until Faust stops the agents, which it does after the consumer
                stop_waiting_for(app, topic)
                await asyncio.sleep(0.5)


async def _write_batches(app: faust.App, settings: Settings, store: ResultsStore, feed: Feed,
                         topic: str, stream: faust.StreamT, kept: StorePositions) -> None:
    def stopping() -> bool:
        return app.should_stop

    # The schema is there from start-up, before any row.
    await with_backoff(partial(store.call, _nothing), "opening the results store", stopping)
    reader = GatedReader(app, kept.reader, kept.in_agent, (topic,) if feed.compacted else ())
    async for events in stream.take_events(settings.sink_batch_rows,
                                           within=settings.sink_batch_s):
        events = await reader.admit(events)
        if not events:
            continue
        messages = [(e.message.topic, e.message.partition, e.message.offset,
                     e.message.value) for e in events]
        rows, broken = feed_rows(feed, messages)
        if broken:
            log.error("%d messages of %s could not be decoded and were skipped",
                      broken, topic)
        positions = reader.positions({e.message.tp for e in events})
        write = partial(_write, table=feed.table, columns=feed.columns, rows=rows,
                        reader=kept.reader, positions=positions)
        await with_backoff(partial(store.call, write),
                           f"writing {len(rows)} rows to {feed.table}", stopping)
        metrics.SINK_ROWS.labels(feed.table).inc(len(rows))
        if feed.table == "user_metrics":
            newest = max(event.message.timestamp for event in events)
            metrics.SINK_LAG.set(max(0.0, time.time() - newest))


def _write(sink: Sink, table: str, columns: tuple[str, ...], rows: list[tuple[Any, ...]],
           reader: str, positions: Mapping[TP, int]) -> None:
    """The rows, then the positions past them: rows written again after a crash between
    the two are the same rows, and ReplacingMergeTree keeps one."""
    if rows:
        sink.insert(table, columns, rows)
    write_positions(sink, reader, {(tp.topic, tp.partition): at for tp, at in positions.items()})


def _nothing(sink: Sink) -> None:
    """Opening the store (and migrating it) is all there is to do."""
