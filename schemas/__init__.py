"""Avro schemas for every Kafka value, and helpers to encode and decode them."""

from schemas.codec import (
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
    "ConfluentRegistry", "LocalRegistry", "SchemaError", "current_registry", "decode", "decoder",
    "encode", "encode_dead_letter", "encoder", "load_schema", "use_registry",
]
