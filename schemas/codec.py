"""Kafka values in Confluent's wire format: magic byte 0, a 4-byte schema id, Avro binary.

Producers in any language with a standard Confluent Avro serializer can write
abstream's topics directly; readers resolve each record's writer schema (by
its id) against the current schema, so data written by an older schema stays
readable (see `docs/events.md` for the evolution rules).
"""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable
from functools import cache
from typing import Any

import fastavro
from fastavro.validation import ValidationError

from schemas.registry import LocalRegistry, Registry, SchemaError, load_schema

MAGIC = 0
_HEADER = struct.Struct(">bI")
_registry: Registry = LocalRegistry()


def use_registry(registry: Registry) -> None:
    """Take schema ids from `registry` from now on (a Schema Registry, say)."""
    global _registry
    _registry = registry


def current_registry() -> Registry:
    return _registry


def encode(
    name: str, record: dict[str, Any], registry: Registry | None = None, validate: bool = True
) -> bytes:
    """Validate `record` against the current schema `name` and frame it.

    `validate=False` skips the (costly) validation for records already checked
    field by field, such as those from `schemas.events`.
    """
    registry = registry or _registry
    schema = load_schema(name)
    if validate:
        try:
            fastavro.validation.validate(record, schema, raise_errors=True)
        except ValidationError as exc:
            raise SchemaError(f"{name}: {exc}") from None
    buffer = io.BytesIO()
    buffer.write(_HEADER.pack(MAGIC, registry.writer_id(name)))
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


@cache
def encoder(name: str, registry: Registry) -> Callable[[dict[str, Any]], bytes]:
    """`encode` without validation for one schema and registry, its header made once."""
    schema, header = load_schema(name), _HEADER.pack(MAGIC, registry.writer_id(name))

    def encode_one(record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(header)
        fastavro.schemaless_writer(buffer, schema, record)
        return buffer.getvalue()

    return encode_one


def decode(name: str, payload: bytes, registry: Registry | None = None) -> dict[str, Any]:
    """Read framed bytes as a record of the current schema `name`."""
    return decoder(name, registry or _registry)(payload)


@cache
def decoder(name: str, registry: Registry) -> Callable[[bytes], dict[str, Any]]:
    """`decode` for one schema and registry: what each record needs is looked up once."""
    reader = load_schema(name)
    writers: dict[int, dict[str, Any]] = {}  # by schema id, as the registry gave them

    def decode_one(payload: bytes) -> dict[str, Any]:
        if len(payload) < _HEADER.size:
            raise SchemaError(f"{name}: {len(payload)} bytes is too short for the wire format")
        magic, schema_id = _HEADER.unpack_from(payload)
        if magic != MAGIC:
            raise SchemaError(
                f"{name}: magic byte {magic}, expected {MAGIC}: not Avro wire format")
        writer = writers.get(schema_id)
        if writer is None:
            writer = writers[schema_id] = registry.schema(schema_id)
        buffer = io.BytesIO(payload)
        buffer.seek(_HEADER.size)
        try:
            record = fastavro.schemaless_reader(buffer, writer, reader)
        except Exception as exc:  # fastavro raises many kinds on corrupt or foreign data
            raise SchemaError(f"{name}: cannot decode {len(payload)} bytes: {exc}") from None
        if buffer.tell() != len(payload):
            raise SchemaError(f"{name}: {len(payload) - buffer.tell()} trailing bytes")
        return record

    return decode_one


def encode_dead_letter(topic: str, key: bytes | None, payload: bytes, reason: str, source: str,
                       received_at: int | None = None) -> bytes:
    """A DeadLetter record: what was headed for `topic`, from where, and why it was refused."""
    return encode("dead_letter", {
        "topic": topic, "key": key, "payload": payload, "error": reason, "source": source,
        "received_at": int(time.time() * 1000) if received_at is None else received_at})


# `<prefix>.alerts` carries SrmAlert and GuardrailAlert records: each names its schema
# in this header, so a reader picks the decoder without trying both.
TYPE_HEADER = "abstream.schema"


def alert_headers(name: str) -> list[tuple[str, bytes]]:
    """The Kafka headers of an alert record written with schema `name`."""
    return [(TYPE_HEADER, name.encode())]
