"""Table definitions, in SQL that runs on ClickHouse 18.16 and on current ClickHouse."""

from __future__ import annotations

from typing import Any

from sinks.base import Sink

EXPOSURE_COLUMNS = (
    "event_id", "user_id", "experiment", "variant", "phase", "config_version",
    "timestamp_ms", "received_at_ms", "source", "is_override",
)

# One row per exposure event; a replayed event_id collapses on merge (or with FINAL).
EXPOSURES_RAW = """
CREATE TABLE IF NOT EXISTS {database}.exposures_raw (
    event_id String,
    user_id String,
    experiment String,
    variant String,
    phase UInt32,
    config_version UInt64,
    timestamp_ms Int64,
    received_at_ms Int64,
    source String,
    is_override UInt8
) ENGINE = ReplacingMergeTree()
ORDER BY (experiment, user_id, event_id)
"""


def create_tables(sink: Sink) -> None:
    sink.ensure_database()
    sink.command(EXPOSURES_RAW.format(database=sink.database))


def exposure_row(exposure: dict[str, Any]) -> tuple[Any, ...]:
    """A decoded Exposure record as an `exposures_raw` row."""
    return (
        exposure["event_id"], exposure["user_id"], exposure["experiment"], exposure["variant"],
        exposure["phase"], exposure["config_version"], exposure["timestamp"],
        exposure["received_at"], exposure["source"], int(exposure["override"]),
    )
