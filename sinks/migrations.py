"""Versioned, idempotent schema migrations, applied in order at start-up.

Each migration is a list of statements with a `{database}` placeholder. The
versions applied are recorded in `schema_migrations`; `migrate` applies the
missing ones in order and returns their versions. Every statement is also
idempotent on its own (IF NOT EXISTS), so a migration interrupted half-way is
simply applied again; ClickHouse 18.16 has no ``ADD COLUMN IF NOT EXISTS``, so a
migration's new columns are added only where `system.columns` does not list them.
A migration that SQL alone cannot make idempotent (a new sorting key: `sinks.rekey`)
is a function that looks at the tables first.
The SQL runs unchanged on ClickHouse 18.16 and on chDB.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sinks.base import Sink
from sinks.rekey import key_without_variant
from sinks.tables import (
    DEAD_LETTERS,
    EVENTS_RAW,
    EXPERIMENT_AUDIT,
    EXPOSURES_RAW,
    GUARDRAIL_ALERTS,
    SINK_POSITIONS,
    SRM_ALERTS,
    USER_METRICS,
)


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    statements: tuple[str, ...]
    columns: tuple[tuple[str, str, str], ...] = ()  # (table, column, type and default)
    apply: Callable[[Sink], None] | None = None  # runs last; must be safe to run again


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "exposures_raw", (EXPOSURES_RAW,)),
    Migration(2, "user_metrics", (USER_METRICS,)),
    Migration(3, "srm_alerts", (SRM_ALERTS,)),
    Migration(4, "events_raw, dead_letters and experiment_audit",
              (EVENTS_RAW, DEAD_LETTERS, EXPERIMENT_AUDIT)),
    Migration(5, "exposures_raw.mismatched", (),
              (("exposures_raw", "mismatched", "UInt8 DEFAULT 0"),)),
    # Migration 2 now creates the table keyed so; older databases are converted.
    Migration(6, "user_metrics keyed without the variant", (), (), key_without_variant),
    Migration(7, "sink_positions", (SINK_POSITIONS,)),
    Migration(8, "guardrail_alerts", (GUARDRAIL_ALERTS,)),
)

_LEDGER = """
CREATE TABLE IF NOT EXISTS {database}.schema_migrations (
    version UInt32,
    name String,
    applied_at DateTime DEFAULT now()
) ENGINE = ReplacingMergeTree()
ORDER BY version
"""


def applied_versions(sink: Sink) -> set[int]:
    rows = sink.query(f"SELECT DISTINCT version FROM {sink.database}.schema_migrations")
    return {int(version) for (version,) in rows}


def migrate(sink: Sink, migrations: tuple[Migration, ...] = MIGRATIONS) -> list[int]:
    """Bring the sink's database to the newest schema; returns the versions applied now."""
    sink.ensure_database()
    sink.command(_LEDGER.format(database=sink.database))
    done = applied_versions(sink)
    applied = []
    for migration in sorted(migrations, key=lambda m: m.version):
        if migration.version in done:
            continue
        _apply(sink, migration)
        sink.insert("schema_migrations", ["version", "name"],
                    [(migration.version, migration.name)])
        applied.append(migration.version)
    return applied


def _add_column(sink: Sink, table: str, column: str, kind: str) -> None:
    rows = sink.query("SELECT name FROM system.columns WHERE database = %(database)s"
                      " AND table = %(table)s", {"database": sink.database, "table": table})
    if column not in {name for (name,) in rows}:
        sink.command(f"ALTER TABLE {sink.database}.{table} ADD COLUMN {column} {kind}")


def restore_tables(sink: Sink, migrations: tuple[Migration, ...] = MIGRATIONS) -> None:
    """Create again every table that was dropped after its migration was recorded.

    `migrate` trusts the ledger, so a table dropped by hand stays missing; every step
    of every migration is idempotent, so running them all again recreates only what
    is gone, with every column later migrations added.
    """
    migrate(sink, migrations)
    for migration in sorted(migrations, key=lambda m: m.version):
        _apply(sink, migration)


def _apply(sink: Sink, migration: Migration) -> None:
    for statement in migration.statements:
        sink.command(statement.format(database=sink.database))
    for table, column, kind in migration.columns:
        _add_column(sink, table, column, kind)
    if migration.apply is not None:
        migration.apply(sink)
