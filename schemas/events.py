"""Checking events that arrive as JSON before they become Avro records on Kafka.

Each check returns the record to produce, or raises `InvalidEvent` with a
reason that names the field. Rules beyond the schema's types:

- ids and names are non-empty strings of at most `max_id_length` characters;
- attributes are at most `max_attributes` string (or number or boolean) values of
  at most `max_attribute_length` characters, booleans written "true"/"false";
- every string kept is valid Unicode: a lone UTF-16 surrogate (JSON allows
  ``"\\ud800"``) cannot be encoded as UTF-8, and hashing libraries written in C
  have crashed on one, so it is refused here, before anything else sees it;
- `timestamp` (ms since the epoch, event time) defaults to the time received.
  A timestamp up to `max_future_skew_ms` ahead of the receiving clock is
  clamped to it (client clocks run fast); further ahead it is refused, since it
  would sit in the future of every window.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from errors import AbstreamError
from experiments.exposures import attribute_text

MAX_INT = 2**31 - 1  # Avro int: the Exposure schema's phase
MAX_LONG = 2**62 - 1  # far below Avro long's bound, as before


class InvalidEvent(AbstreamError):
    """An event that cannot be used; the message says which field and why."""


_SURROGATE = re.compile("[\ud800-\udfff]")


MAX_VALUE = 1e12  # a goal's value: squares and sums over users stay far from overflow


@dataclass(frozen=True)
class EventLimits:
    max_id_length: int = 256  # ids, names, attribute names
    max_attribute_length: int = 1024
    max_attributes: int = 64
    max_depth: int = 32  # of a whole body of events, in JSON arrays and objects
    max_future_skew_ms: int = 5 * 60 * 1000


def valid_text(value: str) -> bool:
    """True if `value` can be encoded as UTF-8 (has no lone surrogate)."""
    return value.isascii() or _SURROGATE.search(value) is None  # isascii() is O(1)


def too_deep(value: Any, limit: int) -> bool:
    """True if JSON-like `value` nests more than `limit` arrays and objects (no recursion)."""
    level: list[Any] = [value]
    for _ in range(limit + 1):
        level = [child for item in level if isinstance(item, list | dict)
                 for child in (item.values() if isinstance(item, dict) else item)]
        if not level:
            return False
    return True


def check_exposure(raw: Any, received_at: int, limits: EventLimits = EventLimits()) -> dict:
    event = _mapping(raw)
    return {
        "event_id": _event_id(event, limits),
        "user_id": _text(event, "user_id", limits),
        "experiment": _text(event, "experiment", limits),
        "variant": _text(event, "variant", limits),
        "phase": _integer(event, "phase", default=1, minimum=1, maximum=MAX_INT),
        "config_version": _integer(event, "config_version", default=0, minimum=0),
        "timestamp": _timestamp(event, received_at, limits),
        "received_at": received_at,
        "attributes": _attributes(event, limits),
        "source": _text(event, "source", limits, default=""),
        "override": _boolean(event, "override"),
    }


def check_goal(raw: Any, received_at: int, limits: EventLimits = EventLimits()) -> dict:
    event = _mapping(raw)
    return {
        "event_id": _event_id(event, limits),
        "user_id": _text(event, "user_id", limits),
        "name": _text(event, "name", limits),
        "value": _value(event),
        "timestamp": _timestamp(event, received_at, limits),
        "received_at": received_at,
        "attributes": _attributes(event, limits),
    }


def _mapping(raw: Any) -> Mapping[str, Any]:
    if not isinstance(raw, Mapping):
        raise InvalidEvent(f"an event must be a JSON object, not {_kind(raw)}")
    return raw


def _text(event: Mapping, name: str, limits: EventLimits, default: str | None = None) -> str:
    value = event.get(name, default)
    if value is None:
        raise InvalidEvent(f"{name}: is required")
    if not isinstance(value, str):
        raise InvalidEvent(f"{name}: must be a string, not {_kind(value)}")
    if not value and default is None:
        raise InvalidEvent(f"{name}: must not be empty")
    if len(value) > limits.max_id_length:
        raise InvalidEvent(f"{name}: longer than {limits.max_id_length} characters")
    if not valid_text(value):
        raise InvalidEvent(f"{name}: not valid Unicode (a lone surrogate)")
    return value


def _event_id(event: Mapping, limits: EventLimits) -> str:
    if event.get("event_id") is None:
        return str(uuid.uuid4())  # a producer that does not retry needs none
    return _text(event, "event_id", limits)


def _integer(
    event: Mapping, name: str, default: int, minimum: int, maximum: int = MAX_LONG
) -> int:
    value = event.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise InvalidEvent(f"{name}: must be an integer, not {_kind(value)}")
    if value < minimum:
        raise InvalidEvent(f"{name}: must be {minimum} or more")
    if value > maximum:
        raise InvalidEvent(f"{name}: must be between {minimum} and {maximum}")
    return value


def _timestamp(event: Mapping, received_at: int, limits: EventLimits) -> int:
    if event.get("timestamp") is None:
        return received_at
    value = _integer(event, "timestamp", default=0, minimum=0)
    if value > received_at + limits.max_future_skew_ms:
        ahead = (value - received_at) / 1000
        raise InvalidEvent(f"timestamp: {ahead:.0f} s in the future (ms since the epoch?)")
    return min(value, received_at)


def _value(event: Mapping) -> float | None:
    value = event.get("value")
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InvalidEvent(f"value: must be a number, not {_kind(value)}")
    if reason := value_problem(value):
        raise InvalidEvent(reason)
    return float(value)


def value_problem(value: float | None) -> str | None:
    """Why a goal's value cannot be used, or None.

    Bounded, not only finite: a user's sums of values and of their squares must stay
    finite too, or one event makes an experiment's statistics unreadable.
    """
    if value is None or -MAX_VALUE <= value <= MAX_VALUE:  # NaN compares false
        return None
    return f"value: must be a finite number of magnitude at most {MAX_VALUE:g}"


def _boolean(event: Mapping, name: str) -> bool:
    value = event.get(name, False)
    if not isinstance(value, bool):
        raise InvalidEvent(f"{name}: must be true or false, not {_kind(value)}")
    return value


def _attributes(event: Mapping, limits: EventLimits) -> dict[str, str]:
    raw = event.get("attributes") or {}
    if not isinstance(raw, Mapping):
        raise InvalidEvent(f"attributes: must be an object, not {_kind(raw)}")
    if len(raw) > limits.max_attributes:
        raise InvalidEvent(f"attributes: more than {limits.max_attributes}")
    attributes = {}
    for key, value in raw.items():
        key = str(key)
        if len(key) > limits.max_id_length:
            raise InvalidEvent(f"attributes: a name is longer than {limits.max_id_length}")
        if value is None:
            continue
        if not isinstance(value, str | int | float | bool):
            raise InvalidEvent(f"attributes.{_shown(key)}: must be a string, number or boolean")
        text = attribute_text(value)
        if len(text) > limits.max_attribute_length:
            raise InvalidEvent(f"attributes.{_shown(key)}: longer than "
                               f"{limits.max_attribute_length} characters")
        if not (valid_text(key) and valid_text(text)):
            raise InvalidEvent(f"attributes.{_shown(key)}: not valid Unicode (a lone surrogate)")
        attributes[key] = text
    return attributes


def _shown(name: str) -> str:
    """A name as it can appear in a reason: valid Unicode, and short."""
    return name[:64].encode("utf-8", "backslashreplace").decode()


def _kind(value: Any) -> str:
    names = {type(None): "null", bool: "a boolean", int: "a number", float: "a number",
             str: "a string", list: "a list", dict: "an object"}
    return names.get(type(value), type(value).__name__)
