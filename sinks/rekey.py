"""Migration 6: `user_metrics` keyed without the variant.

Up to migration 5 the table's ORDER BY held the variant, so a user whose first
exposure turned out (once an earlier one arrived) to be of another variant kept a
row in each variant, and was counted twice. ClickHouse cannot change a MergeTree's
sorting key in place, so:

1. create `user_metrics_keyed`, ordered by (experiment, phase, metric, user_id), and
   copy every row into it;
2. rename `user_metrics` to `user_metrics_by_variant` and `user_metrics_keyed` to
   `user_metrics`: readers and writers keep the name;
3. copy `user_metrics_by_variant` again, for rows written between steps 1 and 2.

A copy is idempotent: of a user's rows, ReplacingMergeTree(version) keeps the
highest version, whatever variant it says. Each run first looks at which tables
there are, so a migration interrupted anywhere (ClickHouse 18.16 renames the two
pairs one after the other) is simply run again. The old table stays, for the
operator to drop.
"""

from __future__ import annotations

from sinks.base import Sink
from sinks.tables import USER_METRIC_COLUMNS, USER_METRICS_DDL

TABLE, KEYED, BY_VARIANT = "user_metrics", "user_metrics_keyed", "user_metrics_by_variant"


def key_without_variant(sink: Sink) -> None:
    """Bring `user_metrics` to its key without the variant, from wherever a run stopped."""
    keys = sorting_keys(sink)
    if "variant" in keys.get(TABLE, ()):
        sink.command(USER_METRICS_DDL.format(database=sink.database, table=KEYED))
        _copy(sink, TABLE, KEYED)
        _rename(sink, (TABLE, BY_VARIANT), (KEYED, TABLE))
    elif TABLE not in keys:  # stopped between the two renames
        _rename(sink, (KEYED, TABLE))
    else:  # already keyed: a copy begun by a worker that lost the race is of no use
        sink.command(f"DROP TABLE IF EXISTS {sink.database}.{KEYED}")
    if BY_VARIANT in sorting_keys(sink):
        _copy(sink, BY_VARIANT, TABLE)


def sorting_keys(sink: Sink) -> dict[str, tuple[str, ...]]:
    """The sorting-key columns of the `user_metrics` tables there are, by table name."""
    rows = sink.query("SELECT name, sorting_key FROM system.tables WHERE database = %(db)s"
                      " AND name IN %(names)s",
                      {"db": sink.database, "names": (TABLE, KEYED, BY_VARIANT)})
    # 18.16 writes "a, b"; current ClickHouse "a, b" too, but "(a)" for a single column.
    return {name: tuple(column.strip() for column in key.strip("()").split(","))
            for name, key in rows}


def _copy(sink: Sink, source: str, target: str) -> None:
    columns = ", ".join(USER_METRIC_COLUMNS)
    sink.command(f"INSERT INTO {sink.database}.{target} ({columns}) "
                 f"SELECT {columns} FROM {sink.database}.{source}")


def _rename(sink: Sink, *pairs: tuple[str, str]) -> None:
    db = sink.database
    sink.command("RENAME TABLE " + ", ".join(f"{db}.{old} TO {db}.{new}" for old, new in pairs))
