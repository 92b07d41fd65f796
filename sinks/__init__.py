"""Results stores chosen by URL: a ClickHouse server or embedded chDB."""

from __future__ import annotations

from collections.abc import Callable
from difflib import get_close_matches

from sinks.base import Sink
from sinks.errors import SinkError
from sinks.urls import redact


def _clickhouse(url: str) -> Sink:
    from sinks.clickhouse import ClickHouseSink

    return ClickHouseSink(url)


def _chdb(url: str) -> Sink:
    from sinks.chdb import ChdbSink  # imported on use: loading chDB takes a moment

    return ChdbSink(url)


BACKENDS: dict[str, Callable[[str], Sink]] = {"clickhouse": _clickhouse, "chdb": _chdb}


def open_sink(url: str) -> Sink:
    """Open the store a URL names, e.g. ``clickhouse://127.0.0.1:9000/abstream``."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in BACKENDS:
        hint = get_close_matches(scheme, BACKENDS, n=1)
        did_you_mean = f" (did you mean {hint[0]}://?)" if hint else ""
        raise SinkError(
            f"unknown sink URL {redact(url)!r}{did_you_mean}; valid schemes: "
            + ", ".join(f"{name}://" for name in BACKENDS)
        )
    return BACKENDS[scheme](url)


__all__ = ["BACKENDS", "Sink", "SinkError", "open_sink", "redact"]
