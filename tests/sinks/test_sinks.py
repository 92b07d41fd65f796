"""DDL, inserts and queries, unchanged SQL, on the ClickHouse server and on chDB."""

from __future__ import annotations

from datetime import datetime

import pytest

from sinks import Sink, SinkError
from sinks.migrations import migrate
from sinks.tables import EXPOSURE_COLUMNS, exposure_row

pytestmark = pytest.mark.infra


def test_ddl_insert_select_round_trip(sink: Sink, unique_name: str) -> None:
    table = f"{sink.database}.{unique_name}"
    sink.command(
        f"CREATE TABLE {table} (id UInt64, name String, at DateTime, score Float64, "
        "note Nullable(String), tags Array(String)) ENGINE = MergeTree() ORDER BY id"
    )
    rows = [
        (1, "plain", datetime(2026, 1, 2, 3, 4, 5), 0.25, None, []),
        (2, "quote ' and \\ backslash", datetime(1999, 12, 31, 23, 59, 59), -1.5, "n", ["a"]),
        (2**64 - 1, "ünïcødé ✓\n", datetime(2038, 1, 19, 3, 14, 7), 1e300, "", ["", "b"]),
    ]
    assert sink.insert(unique_name, ["id", "name", "at", "score", "note", "tags"], rows) == 3
    assert sink.query(f"SELECT id, name, at, score, note, tags FROM {table} ORDER BY id") == rows


def test_query_parameters_are_escaped(sink: Sink, unique_name: str) -> None:
    table = f"{sink.database}.{unique_name}"
    sink.command(f"CREATE TABLE {table} (k String, v Int64) ENGINE = MergeTree() ORDER BY k")
    sink.insert(unique_name, ["k", "v"], [("a'b", 1), ("c", 2)])
    found = sink.query(f"SELECT v FROM {table} WHERE k = %(key)s", {"key": "a'b"})
    assert found == [(1,)]
    assert sink.query(f"SELECT count() FROM {table} WHERE k IN %(keys)s", {"keys": ("c", "x")}) == [
        (1,)
    ]


def test_replacing_merge_tree_collapses_replayed_rows(sink: Sink) -> None:
    migrate(sink)
    exposure = {
        "event_id": f"replay-{sink.url}", "user_id": "u1", "experiment": "e", "variant": "b",
        "phase": 2, "config_version": 7, "timestamp": 1_700_000_000_123,
        "received_at": 1_700_000_000_456, "source": "test", "override": True,
    }
    for _ in range(3):  # the same event written three times, as after replays
        sink.insert("exposures_raw", EXPOSURE_COLUMNS, [exposure_row(exposure)])
    rows = sink.query(
        f"SELECT {', '.join(EXPOSURE_COLUMNS)} FROM {sink.database}.exposures_raw FINAL "
        "WHERE event_id = %(id)s",
        {"id": exposure["event_id"]},
    )
    assert rows == [exposure_row(exposure)]


def test_bad_sql_raises_a_sink_error_naming_the_store(sink: Sink) -> None:
    with pytest.raises(SinkError, match=sink.url.split("?")[0].split("://")[0]):
        sink.query("SELECT no_such_function_here()")

