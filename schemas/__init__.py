"""Avro schemas for every Kafka value, and helpers to encode and decode them."""

from schemas.batches import BATCH_OF, event_reader, frame_batch
from schemas.codec import (
    TYPE_HEADER,
    alert_headers,
    current_registry,
    decode,
    decoder,
    encode,
    encode_dead_letter,
    encoder,
    use_registry,
)
from schemas.registry import ConfluentRegistry, LocalRegistry, SchemaError, load_schema

__all__ = [
    "BATCH_OF",
    "TYPE_HEADER",
    "ConfluentRegistry",
    "LocalRegistry",
    "SchemaError",
    "alert_headers",
    "current_registry",
    "decode",
    "decoder",
    "encode",
    "encode_dead_letter",
    "encoder",
    "event_reader",
    "frame_batch",
    "load_schema",
    "use_registry",
]
