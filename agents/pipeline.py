"""The Faust agent of the streaming join, over exposures and goal events together.

Both topics are keyed by user_id and have the same number of partitions, so the
worker that owns partition p of one owns partition p of the other, and with it
every event of those users. User states and seen event ids live in RocksDB
tables whose changelogs Faust writes before it commits offsets.
"""

from __future__ import annotations

import time

import faust

from agents import metrics
from agents.config_service import ConfigService
from agents.join import JoinProcessor
from experiments.attribution import ExperimentRules
from schemas import encode
from topology.faust_fixes import drain_buffer_before_commit, seek_uncommitted_to_beginning
from topology.settings import Settings

EXPIRE_EVERY_S = 60.0


def register_pipeline(app: faust.App, settings: Settings, config: ConfigService) -> None:
    topics = settings.topics
    source = app.topic(topics.exposures, topics.events,
                       key_serializer="raw", value_serializer="raw")
    facts = app.topic(topics.facts, key_serializer="raw", value_serializer="raw")
    dead_letters = app.topic(topics.deadletter, key_serializer="raw", value_serializer="raw")
    as_json = faust.Schema(key_serializer="json", value_serializer="json")
    users = app.Table("users", schema=as_json)
    seen = app.Table("seen", schema=as_json)
    rules_cache: dict[int, dict[str, ExperimentRules]] = {}

    def experiments() -> dict[str, ExperimentRules]:
        snapshot = config.state.snapshot()
        if snapshot.version not in rules_cache:
            rules_cache.clear()
            rules_cache[snapshot.version] = {
                e.key: ExperimentRules.of(e) for e in snapshot.config.experiments}
        return rules_cache[snapshot.version]

    drain_buffer_before_commit(app)
    seek_uncommitted_to_beginning(app, {topics.exposures, topics.events})
    processor = JoinProcessor(
        users, seen, topics, experiments, settings.attribution,
        retention_ms=int(settings.dedup_retention_days * 86_400_000),
    )

    @app.agent(source, name="join")
    async def join(stream: faust.StreamT) -> None:
        async for event in stream.events():
            if not config.ready.is_set():
                # Attribution needs the experiments: after a restart the join may start
                # before the config log has been read again.
                await config.ready.wait()
            message = event.message
            outcome = processor.process(message.topic, message.partition, message.offset,
                                        message.key, message.value)
            for key, value in outcome.facts:
                await facts.send(key=key, value=value)
            if outcome.dead_letters:
                await _dead_letter(dead_letters, message.topic, outcome.dead_letters)

    @app.timer(EXPIRE_EVERY_S)
    async def expire_seen_ids() -> None:
        processor.expire()
        metrics.USERS.set(len(users))


async def _dead_letter(topic: faust.TopicT, source_topic: str,
                       letters: list[tuple[bytes | None, bytes, str]]) -> None:
    for key, payload, reason in letters:
        value = encode("dead_letter", {"topic": source_topic, "key": key, "payload": payload,
                                       "error": reason, "received_at": int(time.time() * 1000),
                                       "source": "stream"})
        await topic.send(key=key, value=value)
