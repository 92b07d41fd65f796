"""Migration 6 on a store made by the older schema: once, twice, or interrupted anywhere."""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from sinks import Sink, SinkError
from sinks.base import Params, Row
from sinks.migrations import MIGRATIONS, Migration, migrate
from sinks.rekey import BY_VARIANT, KEYED, TABLE, sorting_keys
from sinks.tables import USER_METRIC_COLUMNS, USER_METRICS, user_metric_rows
from sinks.totals import exposed_users, variant_totals
from tests.sinks.test_totals import expected_totals, fact

pytestmark = pytest.mark.infra
NEW_KEY = "ORDER BY (experiment, phase, metric, user_id)"
# `user_metrics` as migration 2 created it before: the variant in the key.
OLD_MIGRATIONS = tuple(
    Migration(2, m.name, (USER_METRICS.replace(
        NEW_KEY, "ORDER BY (experiment, phase, variant, metric, user_id)"),))
    if m.version == 2 else m for m in MIGRATIONS if m.version < 6)
FROM_6 = sorted(m.version for m in MIGRATIONS if m.version >= 6)  # what the older store lacks


def older_store(sink: Sink) -> list[dict[str, Any]]:
    """A store of the older schema, with users who changed variant; their latest facts."""
    sink.command(f"DROP DATABASE IF EXISTS {sink.database}")
    migrate(sink, OLD_MIGRATIONS)
    rng = random.Random(11)
    older = [fact(user, 1, rng) for user in range(40)]
    # Ten users were first seen in b; their earlier exposure, of a, came later.
    switched = set(range(1, 20, 2))
    latest = [{**f, "variant": "a", "multiple_exposures": True, "version": 2}
              if i in switched else f for i, f in enumerate(older)]
    insert(sink, older + [latest[i] for i in sorted(switched)])
    return latest


def insert(sink: Sink, facts: list[dict[str, Any]]) -> None:
    sink.insert(TABLE, USER_METRIC_COLUMNS, [row for f in facts for row in user_metric_rows(f)])


def assert_keyed_and_exact(sink: Sink, latest: list[dict[str, Any]]) -> None:
    assert sorting_keys(sink)[TABLE] == ("experiment", "phase", "metric", "user_id")
    assert KEYED not in sorting_keys(sink)
    got = {(t.variant, t.metric, t.slice): [t.n, t.sum_x, t.sum_x2, t.sum_y, t.sum_y2,
                                             t.sum_xy, t.sum_d, t.sum_d2, t.sum_xd]
           for t in variant_totals(sink, "exp")}
    expected = expected_totals(latest, None)
    assert set(got) == set(expected)
    for key, sums in expected.items():
        assert got[key] == pytest.approx(sums, rel=1e-12), key
    assert exposed_users(sink, "exp", 1) == {
        v: sum(f["variant"] == v for f in latest) for v in "ab"}
    assert {t.variant: t.n for t in variant_totals(sink, "exp") if t.metric == "n"} == {
        "a": 30, "b": len(latest) - 30}


def test_an_older_store_is_rekeyed_once(fresh_sink: Sink) -> None:
    latest = older_store(fresh_sink)
    (before,), = fresh_sink.query(f"SELECT count() FROM {fresh_sink.database}.{TABLE}")
    counted = {t.variant: t.n for t in variant_totals(fresh_sink, "exp") if t.metric == "n"}
    assert counted == {"a": 30, "b": 20}  # the double count of the older key
    assert migrate(fresh_sink) == FROM_6
    assert_keyed_and_exact(fresh_sink, latest)
    assert migrate(fresh_sink) == []
    kept = fresh_sink.query(f"SELECT count() FROM {fresh_sink.database}.{BY_VARIANT}")
    assert kept == [(before,)]  # the old table stays, untouched


def test_a_new_store_is_keyed_from_the_start(fresh_sink: Sink) -> None:
    assert 6 in migrate(fresh_sink)
    assert set(sorting_keys(fresh_sink)) == {TABLE}


class Interrupting(Sink):
    """Delegates to `inner`; `before(sql)` runs ahead of every statement and insert (the
    ledger's row last) and may raise."""

    def __init__(self, inner: Sink, before: Callable[[str], None]) -> None:
        self.inner, self.before = inner, before
        self.url, self.database = inner.url, inner.database

    def command(self, sql: str, params: Params | None = None) -> None:
        self.before(sql)
        self.inner.command(sql, params)

    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        return self.inner.query(sql, params)

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        self.before(f"INSERT INTO {table}")
        return self.inner.insert(table, columns, rows)

    def close(self) -> None:
        self.inner.close()


def statements_of_the_migration(sink: Sink) -> list[str]:
    older_store(sink)
    seen: list[str] = []
    migrate(Interrupting(sink, seen.append))
    return seen


def test_a_migration_interrupted_at_any_statement_completes_when_run_again(
        fresh_sink: Sink) -> None:
    statements = statements_of_the_migration(fresh_sink)
    assert any(s.startswith("RENAME") for s in statements)
    assert statements[-1] == "INSERT INTO schema_migrations"
    for stop_at in range(len(statements)):
        latest = older_store(fresh_sink)
        count = iter(range(len(statements)))

        def stop(sql: str, stop_at: int = stop_at, count: Any = count) -> None:
            if next(count) == stop_at:
                raise SinkError(f"interrupted before {sql[:40]}")

        with pytest.raises(SinkError, match="interrupted"):
            migrate(Interrupting(fresh_sink, stop))
        done = statements[:stop_at].count("INSERT INTO schema_migrations")
        assert migrate(fresh_sink) == FROM_6[done:]  # the ones not completed, once each
        assert_keyed_and_exact(fresh_sink, latest)


def test_the_two_renames_apart_and_rows_written_meanwhile(fresh_sink: Sink) -> None:
    latest = older_store(fresh_sink)
    late = {**fact(99, 1, random.Random(1)), "variant": "b"}

    def one_rename_at_a_time(sql: str) -> None:
        if sql.startswith("RENAME") and ", " in sql:
            insert(fresh_sink, [late])  # a worker of the older version writes meanwhile
            first_pair = sql.split(", ")[0]
            fresh_sink.command(first_pair)  # as 18.16 may leave it: the first pair done
            raise SinkError("interrupted between the renames")

    with pytest.raises(SinkError, match="between the renames"):
        migrate(Interrupting(fresh_sink, one_rename_at_a_time))
    assert TABLE not in sorting_keys(fresh_sink)
    assert migrate(fresh_sink) == FROM_6
    assert_keyed_and_exact(fresh_sink, [*latest, late])
