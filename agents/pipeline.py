"""The Faust agent of the streaming join, over exposures and goal events together.

Both topics are keyed by user_id and have the same number of partitions, so the
worker that owns partition p of one owns partition p of the other, and with it
every event of those users. User states (with the ids of their recent events)
live in a RocksDB table whose changelog Faust writes before it commits offsets.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection, Iterator, Sequence

import faust
from faust.types import TP

from agents import metrics
from agents.config_service import ConfigService
from agents.join import DeadLetter, JoinProcessor
from agents.read_positions import GatedReader, KeptPositions
from experiments.attribution import ExperimentRules
from schemas import encode_dead_letter
from topology.faust_fixes import set_current_event
from topology.packing import pack
from topology.settings import Settings
from topology.topics import describe_topic

USERS_GAUGE_EVERY_S = 60.0


def positions_key(partition: int) -> tuple[str, int]:
    """The users-table key of the join's positions in a partition. Not a string (it is
    written as a JSON list), so no user id can ever be the same key."""
    return ("positions", partition)


def register_pipeline(app: faust.App, settings: Settings, config: ConfigService,
                      positions: KeptPositions) -> None:
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
    sources = (topics.exposures, topics.events)

    def kept_positions(partition: int) -> dict[str, int]:
        return users.get(positions_key(partition)) or {}

    async def load_positions(tps: Collection[TP],
                             events: Sequence[faust.EventT]) -> dict[TP, int | None]:
        """Inside the agent, of the batch's partitions; after an assignment (no events),
        of any: the key names its partition, so the store finds it in any."""
        of_partition = {e.message.partition: e for e in events}
        loaded: dict[TP, int | None] = {}
        for partition in {tp.partition for tp in tps}:
            if partition in of_partition:
                set_current_event(of_partition[partition])
            kept = kept_positions(partition)
            loaded.update({TP(topic, partition): kept.get(topic) for topic in sources})
        return loaded

    # On every assignment, once the table is recovered: the join's positions, not the
    # group's committed offsets, say where each source partition is read from.
    positions.add(sources, load_positions)

    @app.agent(source, name="join")
    async def join(stream: faust.StreamT) -> None:
        facts_partitions = (await describe_topic(settings.bootstrap_servers, topics.facts))[0]
        # Faust's RocksDB store reads and writes only the partition of the current
        # event, and inside a batch that need not be the user's: every read and write
        # first makes one of the batch's messages of the user's partition current.
        in_partition: dict[int, faust.EventT] = {}

        def load_user(user_id: str, partition: int) -> dict | None:
            set_current_event(in_partition[partition])
            return users.get(user_id)

        processor = JoinProcessor(load_user, topics, experiments, settings.attribution,
                                  config.state.snapshot)
        reader = GatedReader(app, "join", load_positions)
        # Batches: a user touched several times in one is stored and emitted once.
        async for events in stream.take_events(settings.join_batch_max,
                                               within=settings.join_batch_ms / 1000):
            if not config.ready.is_set():
                # Attribution needs the experiments: after a restart the join may start
                # before the config log has been read again.
                await config.ready.wait()
            events = await reader.admit(events)
            if not events:
                continue
            messages = [(e.message.topic, e.message.partition, e.message.offset,
                         e.message.key, e.message.value) for e in events]
            in_partition.clear()
            in_partition.update((e.message.partition, e) for e in events)
            outcome = processor.process(messages)
            for user_id, (index, state) in outcome.users.items():
                set_current_event(events[index])
                users[user_id] = state
            # Straight to the client, past Faust's per-message machinery of topics; the
            # facts packed into batch records, placed as their keys would place them.
            sent = [await producer.send(topics.facts, key, value, partition, None, None)
                    for partition, key, value in pack("fact", outcome.facts, facts_partitions)]
            sent += [await producer.send(topics.deadletter, key, value, None, None, None)
                     for key, value in _dead_letters(outcome.dead_letters)]
            # The positions go last, into the changelog partition of the users they
            # follow, once the facts are acknowledged: a position that survives a crash
            # means its batch's user records and facts did too.
            await asyncio.gather(*sent)
            for partition, event in in_partition.items():
                set_current_event(event)
                mine = reader.positions([TP(topic, partition) for topic in sources
                                         if reader.gate.knows(TP(topic, partition))])
                users[positions_key(partition)] = {tp.topic: at for tp, at in mine.items()}

    @app.timer(USERS_GAUGE_EVERY_S)
    async def count_users() -> None:
        metrics.USERS.set(len(users))


def _dead_letters(letters: list[DeadLetter]) -> Iterator[tuple[bytes | None, bytes]]:
    for source_topic, key, payload, reason in letters:
        yield key, encode_dead_letter(source_topic, key, payload, reason, "stream")
