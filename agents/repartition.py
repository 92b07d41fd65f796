"""The optional repartition step, for producers that cannot key events by user_id.

With `ABSTREAM_REPARTITION=true` a worker also reads `<prefix>.exposures-unkeyed`
and `<prefix>.events-unkeyed`, keyed any way or not at all, and writes each valid
message unchanged to `<prefix>.exposures` or `<prefix>.events` keyed by its
user_id, where the join expects it. What cannot be decoded goes to the
dead-letter topic with the reason, and so do batch records: their users belong
to many partitions, and a producer that can pack a batch by partition can produce
it to the keyed topic itself (docs/events.md). Delivery is at least once: a message copied
again after a crash reaches the join twice and is dropped there as a duplicate of
its event_id.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import faust

from agents import metrics
from schemas import SchemaError, current_registry, encode_dead_letter, event_reader
from topology.settings import Settings


def register_repartition(app: faust.App, settings: Settings) -> None:
    topics = settings.topics
    keyed = {topics.exposures_unkeyed: (topics.exposures, "exposure"),
             topics.events_unkeyed: (topics.events, "goal_event")}
    readers = {topic: event_reader(kind, current_registry()) for topic, (_, kind) in keyed.items()}
    source = app.topic(*keyed, key_serializer="raw", value_serializer="raw")
    producer = app.producer

    @app.agent(source, name="repartition")
    async def repartition(stream: faust.StreamT) -> None:
        async for events in stream.take_events(settings.join_batch_max,
                                               within=settings.join_batch_ms / 1000):
            for event in events:
                message = event.message
                metrics.REPARTITIONED.labels(message.topic).inc()
                try:
                    user_id = _user_of(readers[message.topic], message.value or b"")
                except SchemaError as exc:
                    await producer.send(topics.deadletter, message.key,
                                        _dead_letter(message, str(exc)), None, None, None)
                    continue
                await producer.send(keyed[message.topic][0], user_id.encode(), message.value,
                                    None, None, None)


def _user_of(read: Callable[[bytes], tuple[list[dict[str, Any]], bool]], payload: bytes) -> str:
    events, is_batch = read(payload)
    if is_batch:
        raise SchemaError("a batch record: not accepted for repartitioning, produce it to its "
                          "partition of the keyed topic")
    return events[0]["user_id"]


def _dead_letter(message: faust.types.tuples.Message, reason: str) -> bytes:
    metrics.DEAD_LETTERS.labels(message.topic, reason.split(":")[0][:40]).inc()
    return encode_dead_letter(message.topic, message.key, message.value or b"", reason,
                              "repartition")
