"""Rendering Python values as ClickHouse SQL literals, for backends without bound parameters."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from typing import Any

_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0",
            "\b": "\\b", "\f": "\\f"}
_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def literal(value: Any) -> str:
    """One value as a SQL literal; raises TypeError for types with no safe rendering."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value) or math.isinf(value):
            return {"nan": "nan", "inf": "inf", "-inf": "-inf"}[str(value)]
        return repr(value)
    if isinstance(value, str):
        return "'" + "".join(_ESCAPES.get(ch, ch) for ch in value) + "'"
    if isinstance(value, datetime):
        if value.tzinfo is not None:  # the stores keep naive UTC
            value = value.astimezone(UTC).replace(tzinfo=None)
        return f"'{value:%Y-%m-%d %H:%M:%S}'"
    if isinstance(value, date):
        return f"'{value:%Y-%m-%d}'"
    if isinstance(value, list | tuple):
        inner = ", ".join(literal(item) for item in value)
        return f"[{inner}]" if isinstance(value, list) else f"({inner})"
    raise TypeError(f"cannot render {type(value).__name__} as a SQL literal")


def render(sql: str, params: Mapping[str, Any] | None) -> str:
    """Substitute ``%(name)s`` placeholders with literals (``%%`` is a literal %)."""
    if not params:
        return sql
    return sql % {name: literal(value) for name, value in params.items()}


def identifier(name: str) -> str:
    """A table or column name, checked so it can be placed into SQL unquoted."""
    if not _IDENTIFIER.match(name):
        raise ValueError(f"not a valid identifier: {name!r}")
    return name
