"""The Faust agent of the streaming join, over exposures and goal events together.

Both topics are keyed by user_id and have the same number of partitions, so the
worker that owns partition p of one owns partition p of the other, and with it
every event of those users. User states (with the ids of their recent events)
live in a RocksDB table whose changelog Faust writes before it commits offsets.
"""

from __future__ import annotations

from collections.abc import Iterator

import faust

from agents import metrics
from agents.config_service import ConfigService
from agents.join import DeadLetter, JoinProcessor
from experiments.attribution import ExperimentRules
from schemas import encode_dead_letter
from topology.faust_fixes import set_current_event
from topology.settings import Settings

USERS_GAUGE_EVERY_S = 60.0


def register_pipeline(app: faust.App, settings: Settings, config: ConfigService) -> None:
    topics = settings.topics
    source = app.topic(topics.exposures, topics.events,
                       key_serializer="raw", value_serializer="raw")
    users = app.Table("users", schema=faust.Schema(key_serializer="json",
                                                   value_serializer="json"))
    rules_cache: dict[int, dict[str, ExperimentRules]] = {}

    def experiments() -> dict[str, ExperimentRules]:
        snapshot = config.state.snapshot()
        if snapshot.version not in rules_cache:
            rules_cache.clear()
            rules_cache[snapshot.version] = {
                e.key: ExperimentRules.of(e) for e in snapshot.config.experiments}
        return rules_cache[snapshot.version]

    producer = app.producer

    @app.agent(source, name="join")
    async def join(stream: faust.StreamT) -> None:
        # Faust's RocksDB store reads and writes only the partition of the current
        # event, and inside a batch that need not be the user's: every read and write
        # first makes one of the batch's messages of the user's partition current.
        in_partition: dict[int, faust.EventT] = {}

        def load_user(user_id: str, partition: int) -> dict | None:
            set_current_event(in_partition[partition])
            return users.get(user_id)

        processor = JoinProcessor(load_user, topics, experiments, settings.attribution,
                                  config.state.snapshot)
        # Batches: a user touched several times in one is stored and emitted once.
        # Faust acknowledges a batch's messages only after this loop body is done.
        async for events in stream.take_events(settings.join_batch_max,
                                               within=settings.join_batch_ms / 1000):
            if not config.ready.is_set():
                # Attribution needs the experiments: after a restart the join may start
                # before the config log has been read again.
                await config.ready.wait()
            messages = [(e.message.topic, e.message.partition, e.message.offset,
                         e.message.key, e.message.value) for e in events]
            in_partition.clear()
            in_partition.update((e.message.partition, e) for e in events)
            outcome = processor.process(messages)
            for user_id, (index, state) in outcome.users.items():
                set_current_event(events[index])
                users[user_id] = state
            # Straight to the client, past Faust's per-message machinery of topics:
            # its pre-commit flush covers these sends too.
            for key, value in outcome.facts:
                await producer.send(topics.facts, key, value, None, None, None)
            for key, value in _dead_letters(outcome.dead_letters):
                await producer.send(topics.deadletter, key, value, None, None, None)

    @app.timer(USERS_GAUGE_EVERY_S)
    async def count_users() -> None:
        metrics.USERS.set(len(users))


def _dead_letters(letters: list[DeadLetter]) -> Iterator[tuple[bytes | None, bytes]]:
    for source_topic, key, payload, reason in letters:
        yield key, encode_dead_letter(source_topic, key, payload, reason, "stream")
