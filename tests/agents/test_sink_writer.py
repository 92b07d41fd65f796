"""Facts reach the results store: the workers write them to ClickHouse, once per user."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from abstream.admin_client import ApiError
from abstream.worker_process import WorkerProcess
from agents.join import encode_fact, fact_key
from agents.sink_writer import feed_rows, feeds
from analysis.table import results_table
from experiments.facts import Fact
from schemas import current_registry, encode, frame_batch
from sinks import SinkError, open_sink
from sinks.tables import EVENT_COLUMNS, USER_METRIC_COLUMNS
from sinks.totals import variant_totals
from tests.agents.test_pipeline import create_experiment, facts_of, send
from tests.agents.traffic import intake_steps
from tests.workers import INTAKE_HEADERS
from topology.packing import pack
from topology.topics import TopicNames

USERS = 12


async def test_user_metrics_match_the_latest_facts(workers: list[WorkerProcess],
                                                   servers: Any) -> None:
    key = f"sink_{uuid.uuid4().hex[:8]}"
    create_experiment(workers[0], key)
    t = int(time.time() * 1000) - 3_600_000
    steps = intake_steps(key, t, USERS, lambda i: i % 3)
    await send(workers[0], steps)
    expected = {f"{key}-u{i}": float(i % 3) for i in range(USERS)}
    facts = await facts_of(servers, workers[0], key, expected)
    assert {user: fact["values"]["n"] for user, fact in facts.items()} == expected

    want = {}
    for variant in "ab":
        values = [f["values"]["n"] for f in facts.values() if f["variant"] == variant]
        want[variant] = (len(values), sum(values), sum(v * v for v in values))
    with open_sink(workers[0].env["ABSTREAM_SINK_URL"]) as sink:
        deadline = time.monotonic() + 30
        while True:
            try:
                got = {t.variant: (t.n, t.sum_x, t.sum_x2)
                       for t in await asyncio.to_thread(variant_totals, sink, key)}
            except SinkError:  # the workers have not created the tables yet
                got = {}
            if got == want or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
    assert got == want

    bad = [{"user_id": f"{key}-bad", "name": "purchase", "value": "lots"}]  # refused
    async with (aiohttp.ClientSession() as session,
                session.post(workers[0].url + "/events", json=bad,
                             headers=INTAKE_HEADERS) as answer):
        assert (await answer.json())["accepted"] == 0
    goals = sum(i % 3 for i in range(USERS))
    queries = {
        f"SELECT count() FROM {{db}}.exposures_raw FINAL WHERE experiment = '{key}'": USERS,
        f"SELECT count() FROM {{db}}.events_raw FINAL WHERE user_id LIKE '{key}-%'": goals,
        f"SELECT count() FROM {{db}}.experiment_audit FINAL WHERE key = '{key}'": 2,
        f"SELECT count() FROM {{db}}.dead_letters FINAL WHERE payload LIKE '%{key}-bad%'": 1,
    }
    with open_sink(workers[0].env["ABSTREAM_SINK_URL"]) as sink:
        for sql, count in queries.items():
            assert await _until_count(sink, sql.format(db=sink.database), count) == count, sql

    report = workers[1].client().get(f"/experiments/{key}/results")
    assert report["newest_exposure_at"].startswith(
        datetime.fromtimestamp(t / 1000, UTC).isoformat(timespec="seconds")[:16])
    (overall,) = report["slices"]
    assert overall["exposures"] == {variant: want[variant][0] for variant in "ab"}
    (comparison,) = overall["comparisons"]
    means = {variant: want[variant][1] / want[variant][0] for variant in "ab"}
    assert comparison["control_mean"] == pytest.approx(means["a"])
    assert comparison["diff"] == pytest.approx(means["b"] - means["a"])
    assert overall["srm"]["status"] == "ok"
    table = results_table(report)
    assert f"exposures a: {want['a'][0]}  b: {want['b'][0]}" in table and "SRM ok" in table
    with pytest.raises(ApiError, match="not a dimension"):
        workers[1].client().get(f"/experiments/{key}/results?dimension=platform")


def test_rows_skip_and_count_what_cannot_be_decoded() -> None:
    fact = Fact(experiment="e", phase=1, variant="a", user_id="u", first_exposure_ms=1,
                attributes={"platform": "ios"}, values={"n": 2.0, "r:num": 3.0, "r:den": 4.0},
                covariates={"n": 1.0}, multiple_exposures=False, version=5)
    feed = feeds(TopicNames("t"))["t.facts"]
    rows, broken = feed_rows(feed, [("t.facts", 0, i, value) for i, value in
                                    enumerate([encode_fact(fact), b"garbage", None])])
    assert broken == 2
    assert [dict(zip(USER_METRIC_COLUMNS, row, strict=True))["metric"] for row in rows] == [
        "n", "r"]
    ratio = dict(zip(USER_METRIC_COLUMNS, rows[1], strict=True))
    assert (ratio["value"], ratio["denominator"], ratio["version"]) == (3.0, 4.0, 5)
    assert (ratio["dimension_names"], ratio["dimension_values"]) == (["platform"], ["ios"])


def test_batch_records_give_a_row_per_event_beside_single_records() -> None:
    goals = [{"event_id": f"g{i}", "user_id": f"u{i}", "name": "purchase", "value": 1.0,
              "timestamp": 1, "received_at": 2, "attributes": {}} for i in range(3)]
    single = [encode("goal_event", goal) for goal in goals]
    batch = frame_batch("goal_event", single[1:], current_registry())
    feed = feeds(TopicNames("t"))["t.events"]
    rows, broken = feed_rows(feed, [("t.events", 0, 0, single[0]), ("t.events", 0, 1, batch),
                                    ("t.events", 0, 2, batch[:-2])])
    assert broken == 1
    assert [dict(zip(EVENT_COLUMNS, row, strict=True))["event_id"] for row in rows] == [
        "g0", "g1", "g2"]


async def _until_count(sink: Any, sql: str, count: int) -> int:
    deadline, got = time.monotonic() + 30, -1
    while got != count and time.monotonic() < deadline:
        (got,), = await asyncio.to_thread(sink.query, sql)
        await asyncio.sleep(0.3)
    return got


def test_fact_batches_as_the_join_packs_them_give_the_rows_of_their_facts() -> None:
    # A facts topic compacted by an earlier version still holds single facts: both read.
    facts = [Fact(experiment="e", phase=1, variant="ab"[i % 2], user_id=f"u{i}",
                  first_exposure_ms=i, attributes={}, values={"n": float(i)}, covariates={},
                  multiple_exposures=False, version=i + 1) for i in range(40)]
    packed = pack("fact", [(fact_key(f), encode_fact(f)) for f in facts[1:]], 3, max_bytes=200)
    assert len(packed) > 3 and {partition for partition, _, _ in packed} == {0, 1, 2}
    feed = feeds(TopicNames("t"))["t.facts"]
    messages = [("t.facts", 0, 0, encode_fact(facts[0]))] + [
        ("t.facts", partition, 1 + i, value) for i, (partition, _, value) in enumerate(packed)]
    rows, broken = feed_rows(feed, messages)
    assert broken == 0
    got = sorted((row["user_id"], row["variant"], row["value"], row["version"]) for row in
                 (dict(zip(USER_METRIC_COLUMNS, row, strict=True)) for row in rows))
    assert got == sorted((f.user_id, f.variant, f.values["n"], f.version) for f in facts)
