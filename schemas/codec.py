"""Encode and decode Kafka values with the project's Avro schemas (`schemas/*.avsc`)."""

from __future__ import annotations

import io
import json
from functools import cache
from importlib import resources
from typing import Any

import fastavro

from abstream.errors import AbstreamError


class SchemaError(AbstreamError):
    """A record does not fit its schema, or bytes are not a valid encoding."""


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The parsed schema `schemas/<name>.avsc`."""
    source = resources.files("schemas").joinpath(f"{name}.avsc")
    if not source.is_file():
        raise SchemaError(f"no schema named {name!r}")
    return fastavro.parse_schema(json.loads(source.read_text()))


def encode(name: str, record: dict[str, Any]) -> bytes:
    """Validate `record` against schema `name` and encode it (Avro binary, no framing)."""
    schema = load_schema(name)
    try:
        fastavro.validation.validate(record, schema, raise_errors=True)
    except fastavro.validation.ValidationError as exc:
        raise SchemaError(f"{name}: {exc}") from None
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, schema, record)
    return buffer.getvalue()


def decode(name: str, payload: bytes) -> dict[str, Any]:
    """Decode bytes written by `encode` with the same schema."""
    buffer = io.BytesIO(payload)
    try:
        record = fastavro.schemaless_reader(buffer, load_schema(name), None)
    except (EOFError, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise SchemaError(f"{name}: cannot decode {len(payload)} bytes: {exc}") from None
    if buffer.tell() != len(payload):
        raise SchemaError(f"{name}: {len(payload) - buffer.tell()} trailing bytes")
    return record
