"""Migrations, fact rows and per-variant totals, on the ClickHouse server and on chDB."""

from __future__ import annotations

import random
from collections import defaultdict
from typing import Any

import numpy as np
import pytest

from analysis import SampleStats
from sinks import Sink
from sinks.migrations import MIGRATIONS, Migration, applied_versions, migrate
from sinks.tables import EXPOSURE_COLUMNS, USER_METRIC_COLUMNS, exposure_row, user_metric_rows
from sinks.totals import (
    exposed_users,
    exposed_users_by_slice,
    mismatched_users,
    multiple_exposure_users,
    variant_totals,
)

pytestmark = pytest.mark.infra


def test_migrations_apply_once_in_order(fresh_sink: Sink) -> None:
    assert migrate(fresh_sink) == [m.version for m in MIGRATIONS]
    assert migrate(fresh_sink) == []
    assert applied_versions(fresh_sink) == {m.version for m in MIGRATIONS}
    tables = {name for (name,) in fresh_sink.query(
        "SELECT name FROM system.tables WHERE database = %(db)s", {"db": fresh_sink.database})}
    assert {"schema_migrations", "exposures_raw", "user_metrics"} <= tables


def test_mismatched_exposures_are_counted_by_user(fresh_sink: Sink) -> None:
    migrate(fresh_sink)
    # As if interrupted before its ledger row: the column is there, adding it again is a no-op.
    (added,) = [m for m in MIGRATIONS if m.version == 5]
    again = Migration(99, "exposures_raw.mismatched again", (), added.columns)
    assert migrate(fresh_sink, (*MIGRATIONS, again)) == [99]
    exposure = {"event_id": "e", "user_id": "u1", "experiment": "exp", "variant": "b",
                "phase": 2, "config_version": 1, "timestamp": 1, "received_at": 1,
                "source": "", "override": False}
    rows = [exposure_row({**exposure, "event_id": f"e{i}", "user_id": f"u{i % 3}"}, i < 5)
            for i in range(9)]
    fresh_sink.insert("exposures_raw", EXPOSURE_COLUMNS, rows)
    assert mismatched_users(fresh_sink, "exp", 2) == 3
    assert mismatched_users(fresh_sink, "exp", 1) == 0


def fact(user: int, version: int, rng: random.Random) -> dict[str, Any]:
    purchases = float(rng.randint(0, 5))
    return {
        "experiment": "exp", "phase": 1, "variant": "ab"[user % 2], "user_id": f"u{user}",
        "first_exposure": 1_795_000_000_000 + user, "multiple_exposures": False,
        "attributes": {"platform": ["ios", "web"][user % 3 == 0]} if user % 5 else {},
        "values": {"n": purchases, "aov:num": purchases * 10.0, "aov:den": purchases},
        "covariates": {"n": float(rng.randint(0, 3)), "aov:num": 5.0, "aov:den": 1.0},
        "version": version,
    }


def expected_totals(facts: list[dict[str, Any]], dimension: str | None) -> dict:
    totals: dict[tuple, list[float]] = defaultdict(lambda: [0.0] * 9)
    for f in facts:
        slice_ = f["attributes"].get(dimension, "") if dimension else ""
        for metric, x, y, d in (("n", f["values"]["n"], f["covariates"]["n"], 0.0),
                                ("aov", f["values"]["aov:num"], f["covariates"]["aov:num"],
                                 f["values"]["aov:den"])):
            t = totals[(f["variant"], metric, slice_)]
            for i, term in enumerate((1, x, x * x, y, y * y, x * y, d, d * d, x * d)):
                t[i] += term
    return {key: [int(t[0]), *t[1:]] for key, t in totals.items()}


@pytest.mark.parametrize("dimension", [None, "platform"])
def test_totals_count_each_users_latest_fact_once(fresh_sink: Sink,
                                                  dimension: str | None) -> None:
    migrate(fresh_sink)
    rng = random.Random(7)
    older = [fact(user, 1, rng) for user in range(300)]
    latest = [fact(user, 2, rng) for user in range(300)]
    rows = [row for f in older + latest for row in user_metric_rows(f)]
    # Every batch written twice, the old versions after the new ones: nothing changes.
    for batch in (rows, list(reversed(rows))):
        fresh_sink.insert("user_metrics", USER_METRIC_COLUMNS, batch)
    got = {(t.variant, t.metric, t.slice):
           [t.n, t.sum_x, t.sum_x2, t.sum_y, t.sum_y2, t.sum_xy, t.sum_d, t.sum_d2, t.sum_xd]
           for t in variant_totals(fresh_sink, "exp", dimension)}
    expected = expected_totals(latest, dimension)
    assert set(got) == set(expected)
    for key, sums in expected.items():
        assert got[key][0] == sums[0]  # n, exactly
        assert got[key][1:] == pytest.approx(sums[1:], rel=1e-12)
    if dimension:
        assert {key[2] for key in got} == {"", "ios", "web"}


def test_totals_keep_the_variance_of_a_large_mean_with_a_small_spread(fresh_sink: Sink) -> None:
    migrate(fresh_sink)
    rng = np.random.default_rng(5)
    values = 1e8 + rng.normal(0.0, 1.0, 400)
    facts = [{**fact(user, 1, random.Random(user)), "variant": "a",
              "values": {"n": float(v)}, "covariates": {"n": float(v) - 5.0}}
             for user, v in enumerate(values)]
    fresh_sink.insert("user_metrics", USER_METRIC_COLUMNS,
                      [row for f in facts for row in user_metric_rows(f)])
    (t,) = [t for t in variant_totals(fresh_sink, "exp") if t.metric == "n"]
    stats = SampleStats(t.n, t.shifted_x, t.shifted_x2, t.shifted_y, t.shifted_y2,
                        t.shifted_xy, t.shift_x, t.shift_y)
    assert stats.mean == pytest.approx(values.mean(), rel=1e-14)
    assert stats.variance == pytest.approx(values.var(ddof=1), rel=1e-6)
    assert stats.covariance == pytest.approx(values.var(ddof=1), rel=1e-6)
    assert t.sum_x2 == pytest.approx(float(values @ values), rel=1e-12)  # raw sums still there


@pytest.mark.parametrize("dimension", [None, "platform"])
def test_exposed_users_are_distinct_users_per_slice(fresh_sink: Sink,
                                                    dimension: str | None) -> None:
    migrate(fresh_sink)
    rng = random.Random(9)
    facts = [fact(user, 1, rng) for user in range(200)]
    fresh_sink.insert("user_metrics", USER_METRIC_COLUMNS,
                      [row for f in facts for row in user_metric_rows(f)])
    expected: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for f in facts:
        expected[f["attributes"].get(dimension, "") if dimension else ""][f["variant"]] += 1
    got = exposed_users_by_slice(fresh_sink, "exp", 1, dimension)
    assert got == {s: dict(v) for s, v in expected.items()}
    assert exposed_users(fresh_sink, "exp", 1) == {"a": 100, "b": 100}


@pytest.mark.parametrize("dimension", [None, "platform"])
def test_a_user_whose_variant_changes_is_counted_once_in_the_newer_variant(
        fresh_sink: Sink, dimension: str | None) -> None:
    migrate(fresh_sink)
    rng = random.Random(3)
    # The later exposure (b) was seen first; the earlier one (a) arrived after: version 2.
    first = {**fact(1, 1, rng), "variant": "b"}
    corrected = {**fact(1, 2, rng), "variant": "a", "multiple_exposures": True}
    others = [fact(user, 1, rng) for user in range(2, 12)]
    for batch in ([first, *others], [corrected], [first]):  # the old row written again, too
        fresh_sink.insert("user_metrics", USER_METRIC_COLUMNS,
                          [row for f in batch for row in user_metric_rows(f)])
    got = {(t.variant, t.metric, t.slice):
           [t.n, t.sum_x, t.sum_x2, t.sum_y, t.sum_y2, t.sum_xy, t.sum_d, t.sum_d2, t.sum_xd]
           for t in variant_totals(fresh_sink, "exp", dimension)}
    expected = expected_totals([corrected, *others], dimension)
    assert set(got) == set(expected)
    for key, sums in expected.items():
        assert got[key] == pytest.approx(sums, rel=1e-12), key
    exposed: dict[str, dict[str, int]] = defaultdict(dict)
    for (variant, metric, slice_), sums in expected.items():
        if metric == "n":
            exposed[slice_][variant] = sums[0]
    assert exposed_users_by_slice(fresh_sink, "exp", 1, dimension) == exposed
    assert exposed_users(fresh_sink, "exp", 1) == {"a": 6, "b": 5}
    assert multiple_exposure_users(fresh_sink, "exp", 1) == 1
    assert multiple_exposure_users(fresh_sink, "exp", 2) == 0
