"""Reading typed fields of a parsed document, collecting problems instead of raising."""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from experiments.errors import Problem

MISSING = object()
NUMBER = (int, float)
_LARGEST = sys.float_info.max  # an int beyond it has no float: "finite" cannot hold


class Reader:
    """Reads typed fields of one owner's document, recording problems instead of raising."""

    def __init__(self, owner: str, problems: list[Problem]) -> None:
        self.owner = owner
        self.problems = problems

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(Problem(self.owner, path, reason))

    def mapping(self, value: Any, path: str, allowed: set[str] | None = None) -> Mapping:
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a mapping, got {_type(value)}")
            return {}
        if allowed is not None:
            for key in sorted(set(value) - allowed, key=str):
                self.problem(f"{path}.{key}" if path else str(key), "unknown field")
        return value

    def get(self, doc: Mapping, name: str, kinds: Any, path: str, default: Any = MISSING) -> Any:
        value = doc.get(name, default)
        where = f"{path}.{name}" if path else name
        if value is MISSING:
            self.problem(where, "is required")
            return None
        if value is None and default is None:
            return None
        if isinstance(value, bool) and bool not in _as_tuple(kinds):
            value = _BAD
        if value is _BAD or not isinstance(value, kinds):
            self.problem(where, f"must be {_describe(kinds)}, got {_type(doc.get(name))}")
            return None if default is MISSING else default
        if isinstance(value, float) and not math.isfinite(value):  # JSON reads 1e400 as inf
            self.problem(where, f"must be a finite number, not {value}")
            return None if default is MISSING else default
        if isinstance(value, int) and float in _as_tuple(kinds) and abs(value) > _LARGEST:
            self.problem(where, "must be a finite number, not one this large")
            return None if default is MISSING else default
        return value

    def choice(self, doc: Mapping, name: str, enum: Any, path: str, default: Any) -> Any:
        raw = self.get(doc, name, str, path, default.value if default is not None else MISSING)
        try:
            return enum(raw) if raw is not None else default
        except ValueError:
            options = ", ".join(member.value for member in enum)
            self.problem(f"{path}.{name}" if path else name, f"{raw!r} is not one of {options}")
            return default

    def time(self, doc: Mapping, name: str, path: str) -> datetime | None:
        raw = doc.get(name)
        if raw is None or isinstance(raw, datetime):  # YAML parses timestamps itself
            return raw
        try:
            return datetime.fromisoformat(str(raw))
        except ValueError:
            self.problem(f"{path}.{name}" if path else name, f"not an ISO 8601 time: {raw!r}")
            return None

    def spans(self, value: Any, path: str) -> tuple[tuple[int, int], ...]:
        if not isinstance(value, list):
            self.problem(path, "must be a list of [first, last] bucket pairs")
            return ()
        spans = []
        for i, span in enumerate(value):
            ok = isinstance(span, list | tuple) and len(span) == 2 and all(
                isinstance(b, int) and not isinstance(b, bool) for b in span
            )
            if not ok:
                self.problem(f"{path}[{i}]", "must be a [first, last] pair of integers")
                continue
            spans.append((span[0], span[1]))
        return tuple(spans)


_BAD = object()


def _as_tuple(kinds: Any) -> tuple:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _describe(kinds: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a mapping", Mapping: "a mapping"}
    return " or ".join(dict.fromkeys(names.get(kind, kind.__name__) for kind in _as_tuple(kinds)))


def _type(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__
