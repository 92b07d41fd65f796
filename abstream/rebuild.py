"""Rebuilding a lost results store from Kafka: `abstream rebuild-results`.

`user_metrics` is rebuilt from the users table's changelog (`<prefix>-users-changelog`),
not from the facts topic, which is kept only for a week: the changelog is compacted
by user, so it always holds every user's newest state, and the facts are made from
each state as the join makes them, with the configuration of now. Older states not
yet compacted away are harmless, because their facts have lower versions and the
table keeps the highest version per key (ReplacingMergeTree). The raw tables are
refilled, on request, from their topics, only as far back as those topics'
retention reaches.

Each topic is read from its first offset to the end offsets seen at the start, with
a consumer that has no group: it commits nothing and never joins the workers' group.
Rows are built by the sink writer's own feeds and written in batches, after the
schema is brought up to date (tables dropped by hand are created again). Every
write is idempotent, so a second run, or workers writing at the same time, leave
the same totals.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from agents.config_state import ConfigRecord, ConfigState
from agents.fact_records import fact_record
from agents.join import UNREADABLE
from agents.sink_writer import Feed, feed_rows, feeds
from errors import AbstreamError
from experiments import ConfigSnapshot
from experiments.attribution import ExperimentRules, UserState
from schemas import SchemaError, decode
from sinks import Sink
from sinks.migrations import restore_tables
from sinks.tables import USER_METRIC_COLUMNS, user_metric_rows
from topology.topics import TopicNames

STALL_S = 30.0  # no record for this long while behind the end: the broker is gone


class RebuildError(AbstreamError):
    """A topic to rebuild from is missing or cannot be read."""


@dataclass(frozen=True)
class Rebuilt:
    """What one topic gave one table."""

    topic: str
    table: str
    messages: int
    rows: int
    broken: int  # messages that could not be decoded (skipped, as the sink writer does)
    seconds: float

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else float(self.rows)


Progress = Callable[[str, int, int], None]  # table, messages done, messages in all


def rebuild_topics(topics: TopicNames, raw: bool) -> list[str]:
    """The topics to read: the users changelog, and with `raw` those of the raw tables."""
    raw_topics = [topics.exposures, topics.events, topics.deadletter, topics.config_audit]
    return [topics.users_changelog, *(raw_topics if raw else [])]


async def rebuild(sink: Sink, bootstrap: str, topics: TopicNames, raw: bool = False,
                  batch_rows: int = 10_000,
                  progress: Progress = lambda table, done, total: None) -> list[Rebuilt]:
    """Bring the schema up to date, then write every topic's rows into its table."""
    consumer = await _start_consumer(bootstrap)
    try:
        wanted = rebuild_topics(topics, raw)
        found = await _partitions(bootstrap, [*wanted, topics.config])
        await asyncio.to_thread(restore_tables, sink)
        snapshot = await _config_now(consumer, topics, found[topics.config])
        by_topic = {topic: _feed_rows(feed) for topic, feed in feeds(
            topics, (lambda: snapshot) if raw else None).items()}
        by_topic[topics.users_changelog] = ("user_metrics", USER_METRIC_COLUMNS,
                                            state_rows(snapshot))
        return [await _rebuild_one(sink, consumer, found[topic], *by_topic[topic], batch_rows,
                                   progress) for topic in wanted]
    finally:
        await consumer.stop()


RowsOf = Callable[[list[ConsumerRecord]], tuple[list[tuple[Any, ...]], int]]


def _feed_rows(feed: Feed) -> tuple[str, tuple[str, ...], RowsOf]:
    def rows(records: list[ConsumerRecord]) -> tuple[list[tuple[Any, ...]], int]:
        return feed_rows(feed, [(r.topic, r.partition, r.offset, r.value) for r in records])

    return feed.table, feed.columns, rows


def state_rows(snapshot: ConfigSnapshot) -> RowsOf:
    """The `user_metrics` rows of users-changelog records: each state's facts, as the
    join makes them with `snapshot`'s experiments. Other keys (the join's positions)
    and deletions give nothing; an unreadable state is counted, and skipped."""
    experiments = {e.key: ExperimentRules.of(e) for e in snapshot.config.experiments}

    def rows(records: list[ConsumerRecord]) -> tuple[list[tuple[Any, ...]], int]:
        built: list[tuple[Any, ...]] = []
        broken = 0
        for record in records:
            try:
                if record.value is None or not isinstance(json.loads(record.key or b""), str):
                    continue
                facts = UserState.from_dict(json.loads(record.value)).facts(experiments)
            except (*UNREADABLE, KeyError):
                broken += 1
                continue
            for fact in facts:
                built.extend(user_metric_rows(fact_record(fact)))
        return built, broken

    return rows


async def _start_consumer(bootstrap: str) -> AIOKafkaConsumer:
    # No group_id: nothing is committed, and the workers' group never rebalances. A short
    # fetch wait: a fetch left waiting at the end of one topic delays the next topic's.
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None,
                                enable_auto_commit=False, request_timeout_ms=10_000,
                                fetch_max_wait_ms=50)
    try:
        await consumer.start()
    except KafkaError as exc:
        await consumer.stop()
        raise RebuildError(f"cannot reach Kafka at {bootstrap}: {exc}") from exc
    return consumer


async def _partitions(bootstrap: str, wanted: list[str]) -> dict[str, list[TopicPartition]]:
    """Every partition of each topic wanted; RebuildError naming those that are missing."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10_000)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [topic for topic in wanted if topic not in existing]
        if missing:
            raise RebuildError(f"no topic {', '.join(missing)} on {bootstrap}: is "
                               "ABSTREAM_TOPIC_PREFIX the workers' prefix?")
        return {m["topic"]: sorted(TopicPartition(m["topic"], p["partition"])
                                   for p in m["partitions"])
                for m in await admin.describe_topics(wanted)}
    finally:
        await admin.close()


async def _rebuild_one(sink: Sink, consumer: AIOKafkaConsumer,
                       partitions: list[TopicPartition], table: str, columns: tuple[str, ...],
                       rows_of: RowsOf, batch_rows: int, progress: Progress) -> Rebuilt:
    started, messages, rows, broken = time.monotonic(), 0, 0, 0
    topic = partitions[0].topic
    total = await _prepare(consumer, partitions)
    progress(table, 0, total)
    async for records in _read(consumer, topic, batch_rows):
        built, skipped = rows_of(records)
        # In a thread: the consumer keeps fetching the next batch meanwhile.
        rows += await asyncio.to_thread(sink.insert, table, columns, built)
        messages, broken = messages + len(records), broken + skipped
        progress(table, messages, total)
    return Rebuilt(topic, table, messages, rows, broken, time.monotonic() - started)


async def _prepare(consumer: AIOKafkaConsumer, partitions: list[TopicPartition]) -> int:
    """Assign `partitions` at their first offsets; the messages up to their ends."""
    consumer.assign(partitions)
    await consumer.seek_to_beginning(*partitions)
    firsts = await consumer.beginning_offsets(partitions)
    ends = await consumer.end_offsets(partitions)
    return sum(ends[tp] - firsts[tp] for tp in partitions)  # less after compaction


async def _read(consumer: AIOKafkaConsumer, topic: str,
                batch_rows: int) -> AsyncIterator[list[ConsumerRecord]]:
    """Batches of the assigned partitions' records, up to the end offsets seen first."""
    partitions = list(consumer.assignment())
    ends = await consumer.end_offsets(partitions)
    behind = {tp for tp in partitions if await consumer.position(tp) < ends[tp]}
    batch: list[ConsumerRecord] = []
    idle_since = time.monotonic()
    while behind:
        fetched = await consumer.getmany(*behind, timeout_ms=500, max_records=batch_rows)
        for tp, records in fetched.items():
            batch.extend(record for record in records if record.offset < ends[tp])
        behind = {tp for tp in behind if await consumer.position(tp) < ends[tp]}
        idle_since = time.monotonic() if fetched else idle_since
        if behind and time.monotonic() - idle_since > STALL_S:
            raise RebuildError(f"{topic}: nothing read for {STALL_S:.0f} s before its end")
        if len(batch) >= batch_rows or (batch and not behind):
            yield batch
            batch = []


async def _config_now(consumer: AIOKafkaConsumer, topics: TopicNames,
                      partitions: list[TopicPartition]) -> ConfigSnapshot:
    """The configuration as the workers have it now, folded from the config topic: the
    sink writer flags exposures that disagree with it, and so does the rebuild."""
    state = ConfigState()
    await _prepare(consumer, partitions)
    async for batch in _read(consumer, topics.config, 1_000):
        for message in batch:
            key = message.key.decode() if message.key else ""
            if message.value is None:  # a tombstone: the key is deleted
                state.apply(message.offset, None, key)
            elif (record := _config_record(message.value)) is not None:
                state.apply(message.offset, record, key)
    return state.snapshot()


def _config_record(value: bytes) -> ConfigRecord | None:
    try:
        return ConfigRecord.from_avro(decode("config_record", value))
    except (SchemaError, ValueError):
        return None  # unreadable: the workers skip it too
