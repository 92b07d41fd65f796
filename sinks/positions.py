"""The sink writers' positions in the results store, read and written with their rows."""

from __future__ import annotations

from collections.abc import Mapping

from sinks.base import Sink
from sinks.tables import POSITION_COLUMNS

_READ = """
SELECT topic, partition, max(next_offset)
FROM {database}.sink_positions
WHERE reader = %(reader)s
GROUP BY topic, partition
"""


def read_positions(sink: Sink, reader: str) -> dict[tuple[str, int], int]:
    """The next offset to write of each partition `reader` has written rows of."""
    rows = sink.query(_READ.format(database=sink.database), {"reader": reader})
    return {(topic, int(partition)): int(offset) for topic, partition, offset in rows}


def write_positions(sink: Sink, reader: str, positions: Mapping[tuple[str, int], int]) -> None:
    sink.insert("sink_positions", POSITION_COLUMNS,
                [(reader, topic, partition, offset)
                 for (topic, partition), offset in positions.items()])
