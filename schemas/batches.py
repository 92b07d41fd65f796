"""Batch records: many events of one topic-partition in one Kafka record.

An `ExposureBatch` (on the exposures topic), a `GoalBatch` (on the events topic)
or a `FactBatch` (on the facts topic) is a record with one field (`events`, or
`facts`): an array of the topic's own single record. Readers tell the two apart
by the record's schema id, whichever registry gave it, so single-event records
from any Confluent producer and batch records mix freely on one topic.

A batch is framed from its events' single-event encodings: an Avro record of
one array field is encoded as that array (a count, the items, a zero), so the
intake and the producer encode each event once, for checking, sizing and
packing alike.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from functools import cache
from typing import Any

from schemas.codec import MAGIC, decoder
from schemas.registry import Registry, SchemaError

BATCH_OF = {"exposure": "exposure_batch", "goal_event": "goal_batch", "fact": "fact_batch"}
ITEMS = {"exposure_batch": "events", "goal_batch": "events", "fact_batch": "facts"}
FULL_NAMES = {"exposure": "io.abstream.Exposure", "exposure_batch": "io.abstream.ExposureBatch",
              "goal_event": "io.abstream.GoalEvent", "goal_batch": "io.abstream.GoalBatch",
              "fact": "io.abstream.Fact", "fact_batch": "io.abstream.FactBatch"}
_HEADER = struct.Struct(">bI")
Events = tuple[list[dict[str, Any]], bool]  # the events, and whether a batch held them


def frame_batch(kind: str, framed: list[bytes], registry: Registry) -> bytes:
    """The batch record of `kind` ("exposure", "goal_event" or "fact") holding the records
    whose single-event records (framed, as `encode` makes them) are `framed`."""
    header = _HEADER.pack(MAGIC, registry.writer_id(BATCH_OF[kind]))
    count = avro_long(len(framed)) if framed else b""
    return b"".join([header, count, *(value[_HEADER.size:] for value in framed), b"\x00"])


def avro_long(value: int) -> bytes:
    """Avro's variable-length zig-zag encoding of a long."""
    value = (value << 1) ^ (value >> 63)
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


@cache
def event_reader(kind: str, registry: Registry) -> Callable[[bytes], Events]:
    """Read a record of `kind`'s topic: its events (or facts), single or batched
    (SchemaError if it is neither, or its bytes are not a valid encoding)."""
    single, batch = decoder(kind, registry), decoder(BATCH_OF[kind], registry)
    items = ITEMS[BATCH_OF[kind]]
    names = {FULL_NAMES[kind]: False, FULL_NAMES[BATCH_OF[kind]]: True}
    is_batch: dict[int, bool] = {}  # by schema id

    def read(payload: bytes) -> Events:
        if len(payload) < _HEADER.size:
            raise SchemaError(f"{kind}: {len(payload)} bytes is too short for the wire format")
        magic, schema_id = _HEADER.unpack_from(payload)
        if magic != MAGIC:
            return [single(payload)], False  # which raises, and says why
        if schema_id not in is_batch:
            name = registry.schema(schema_id).get("name")
            # Anything else is left to the single-event decoder, which says why it fails.
            is_batch[schema_id] = names.get(name, False)
        if is_batch[schema_id]:
            return batch(payload)[items], True
        return [single(payload)], False

    return read
