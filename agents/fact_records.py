"""Facts as the records of the facts topic: their key and their Avro form.

The join encodes about one fact per event, and fastavro's writer spends most of
its time per call, not per byte (13 µs for a fact of four metrics). A fact's
schema is fixed, so `FactEncoder` writes its Avro binary directly, with the
encodings of the strings that repeat (experiments, variants, metric and
attribute names and values) made once. Its bytes are fastavro's, byte for byte
(tests/agents/test_fact_records.py).
"""

from __future__ import annotations

import struct
from collections.abc import Mapping
from functools import lru_cache
from itertools import chain
from typing import Any

from experiments.facts import Fact
from schemas import current_registry
from schemas.batches import avro_long
from schemas.codec import MAGIC
from schemas.registry import Registry

_HEADER = struct.Struct(">bI")
_DOUBLE = struct.Struct("<d")
_EMPTY_MAP = b"\x00"
_SMALL = [avro_long(n) for n in range(64)]  # phases, counts and versions are mostly small


def fact_key(fact: Fact) -> bytes:
    """"<experiment>/<phase>/<user>": the facts topic is compacted by it."""
    return f"{fact.experiment}/{fact.phase}/{fact.user_id}".encode()


def fact_record(fact: Fact) -> dict[str, Any]:
    """A `Fact` as the Avro record of the facts topic."""
    return {
        "experiment": fact.experiment, "phase": fact.phase, "variant": fact.variant,
        "user_id": fact.user_id, "first_exposure": fact.first_exposure_ms,
        "attributes": fact.attributes, "values": fact.values, "covariates": fact.covariates,
        "multiple_exposures": fact.multiple_exposures, "version": fact.version,
    }


class FactEncoder:
    """`schemas.encode("fact", fact_record(fact))`, without fastavro's cost per call."""

    def __init__(self, registry: Registry) -> None:
        self.header = _HEADER.pack(MAGIC, registry.writer_id("fact"))

    def __call__(self, fact: Fact) -> bytes:
        return b"".join((
            self.header, _text(fact.experiment), _int(fact.phase), _text(fact.variant),
            _string(fact.user_id), _int(fact.first_exposure_ms),
            _strings(fact.attributes), _doubles(fact.values), _doubles(fact.covariates),
            b"\x01" if fact.multiple_exposures else b"\x00", _int(fact.version)))


def encode_fact(fact: Fact) -> bytes:
    return FactEncoder(current_registry())(fact)


def _int(value: int) -> bytes:
    return _SMALL[value] if 0 <= value < 64 else avro_long(value)


def _string(value: str) -> bytes:
    data = value.encode()
    return _int(len(data)) + data


@lru_cache(maxsize=16_384)
def _text(value: str) -> bytes:
    """A string that repeats across facts: a name, a variant, an attribute value."""
    return _string(value)


def _strings(values: Mapping[str, str]) -> bytes:
    if not values:
        return _EMPTY_MAP
    parts = [_int(len(values))]
    for key, value in values.items():
        parts += (_text(key), _text(value))
    parts.append(_EMPTY_MAP)
    return b"".join(parts)


def _doubles(values: Mapping[str, float]) -> bytes:
    if not values:
        return _EMPTY_MAP
    layout = _layout(tuple(values))
    return layout.pack(*chain.from_iterable(zip(layout.keys, values.values(), strict=True)),
                       _EMPTY_MAP)


class _Layout(struct.Struct):
    """A map of doubles with these keys in this order (an experiment's metrics): its
    count, keys and end are constant, packed around the values."""

    keys: tuple[bytes, ...]


@lru_cache(maxsize=4_096)
def _layout(keys: tuple[str, ...]) -> _Layout:
    encoded = [_text(key) for key in keys]
    encoded[0] = _int(len(keys)) + encoded[0]  # the map's count, then its first key
    # "<" packs without padding; each constant is a "s" field of its own length.
    layout = _Layout("<" + "".join(f"{len(key)}sd" for key in encoded) + "1s")
    layout.keys = tuple(encoded)
    return layout
