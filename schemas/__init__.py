"""Avro schemas for every Kafka value, and helpers to encode and decode them."""

from schemas.codec import SchemaError, decode, encode, load_schema

__all__ = ["SchemaError", "decode", "encode", "load_schema"]
