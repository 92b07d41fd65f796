"""A lost results store rebuilt from Kafka: the same totals, exactly, once or twice.

Real workers take traffic through their intake and write it to ClickHouse; the
test drops their whole database while they run, rebuilds it with the command, and
compares every total with what it was before.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import aiohttp
import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, RecordsToDelete

from abstream.cli import main
from abstream.rebuild import RebuildError, rebuild
from abstream.worker_process import WorkerProcess
from sinks import Sink, SinkError, open_sink
from sinks.migrations import restore_tables
from sinks.totals import VariantTotals, exposed_users, mismatched_users, variant_totals
from tests.agents.test_pipeline import create_experiment, send
from tests.agents.traffic import intake_steps
from tests.kafka_reading import read_topic
from tests.workers import INTAKE_HEADERS
from topology.topics import TopicNames

pytestmark = pytest.mark.infra
USERS = 30
TABLES = ("user_metrics", "exposures_raw", "events_raw", "dead_letters", "experiment_audit")


def traffic(key: str, t: int) -> list[tuple[str, dict]]:
    """Exposures, goals (some users with none) and a user exposed to both variants."""
    steps = intake_steps(key, t, USERS, lambda i: i % 4)
    steps.append(("/exposures", {"event_id": f"{key}-u0-late", "user_id": f"{key}-u0",
                                 "experiment": key, "variant": "b", "timestamp": t + 5000}))
    return steps


def expected() -> dict[str, tuple[int, float]]:
    """Users and their goals per variant: u0 stays in a, its earliest exposure's variant."""
    return {v: (USERS // 2, float(sum(i % 4 for i in range(USERS) if "ab"[i % 2] == v)))
            for v in "ab"}


async def until_written(sink: Sink, key: str) -> None:
    """Until the store has every fact and raw row of the experiment's traffic (or 60 s)."""
    want = expected()
    goals = sum(i % 4 for i in range(USERS))
    db = sink.database
    raw = (f"SELECT (SELECT count() FROM {db}.exposures_raw FINAL WHERE experiment = '{key}'),"
           f" (SELECT count() FROM {db}.events_raw FINAL WHERE user_id LIKE '{key}-%'),"
           f" (SELECT count() FROM {db}.dead_letters FINAL WHERE payload LIKE '%{key}-bad%')")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            got = {t.variant: (t.n, t.sum_x) for t in variant_totals(sink, key)}
            counts = sink.query(raw)[0]
        except SinkError:  # the workers have not created the tables yet
            got, counts = {}, (0, 0, 0)
        if got == want and counts == (USERS + 1, goals, 1):
            return
        await asyncio.sleep(0.3)
    raise AssertionError(f"not written after 60 s: {got} {counts}")


def exact(totals: list[VariantTotals]) -> list[tuple[Any, ...]]:
    """The totals without their shifts, which come from any one row and so vary by store
    (the sums are of integers here: exact either way)."""
    return [(t.variant, t.metric, t.slice, t.n, t.sum_x, t.sum_x2, t.sum_y, t.sum_y2,
             t.newest_exposure_ms) for t in totals]


def snapshot(sink: Sink, key: str) -> dict[str, Any]:
    """Everything the test compares: the experiment's totals and every table's rows."""
    counts = {table: sink.query(f"SELECT count() FROM {sink.database}.{table} FINAL")[0][0]
              for table in TABLES}
    return {"totals": exact(variant_totals(sink, key)), "exposed": exposed_users(sink, key, 1),
            "mismatched": mismatched_users(sink, key, 1), "counts": counts}


async def run_rebuild(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str],
                worker: WorkerProcess, *args: str) -> str:
    monkeypatch.setenv("ABSTREAM_KAFKA_BOOTSTRAP", worker.env["ABSTREAM_KAFKA_BOOTSTRAP"])
    monkeypatch.setenv("ABSTREAM_TOPIC_PREFIX", worker.env["ABSTREAM_TOPIC_PREFIX"])
    started = time.monotonic()
    command = ["rebuild-results", "--sink-url", worker.env["ABSTREAM_SINK_URL"], *args]
    assert await asyncio.to_thread(main, command) == 0  # the command runs its own loop
    out = capsys.readouterr().out
    print(f"rebuild: {time.monotonic() - started:.2f} s\n{out}")  # shown with -s
    return out


async def send_traffic(worker: WorkerProcess, key: str) -> None:
    """The traffic, and an event the intake refuses: a dead letter."""
    await send(worker, traffic(key, int(time.time() * 1000) - 3_600_000))
    bad = [{"user_id": f"{key}-bad", "name": "purchase", "value": "lots"}]
    async with (aiohttp.ClientSession() as session,
                session.post(worker.url + "/events", json=bad, headers=INTAKE_HEADERS) as answer):
        assert (await answer.json())["accepted"] == 0


async def test_a_dropped_store_is_rebuilt_with_the_same_totals(
        workers: list[WorkerProcess], servers: Any, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    key = f"rebuild_{uuid.uuid4().hex[:8]}"
    create_experiment(workers[0], key)
    await send_traffic(workers[0], key)
    with open_sink(workers[0].env["ABSTREAM_SINK_URL"]) as sink:
        await until_written(sink, key)
        before = await asyncio.to_thread(snapshot, sink, key)
        assert before["exposed"] == {"a": 15, "b": 15}
        assert before["mismatched"] >= 1  # u0's late exposure of b
        assert min(before["counts"].values()) > 0

        sink.command(f"DROP DATABASE {sink.database}")  # lost, while the workers run
        try:
            out = await run_rebuild(monkeypatch, capsys, workers[0], "--raw")
            assert "user_metrics" in out and "exposures_raw" in out
            assert await asyncio.to_thread(snapshot, sink, key) == before

            await run_rebuild(monkeypatch, capsys, workers[0], "--raw")  # twice: no change
            assert await asyncio.to_thread(snapshot, sink, key) == before
        finally:  # whatever happened, the workers and the next tests find their tables
            restore_tables(sink)


async def test_a_chdb_store_rebuilt_without_the_facts_topic_agrees(
        workers: list[WorkerProcess], servers: Any, chdb_url: str) -> None:
    key = f"rebuild_{uuid.uuid4().hex[:8]}"
    create_experiment(workers[0], key)
    await send_traffic(workers[0], key)
    topics = TopicNames(workers[0].env["ABSTREAM_TOPIC_PREFIX"])
    with open_sink(workers[0].env["ABSTREAM_SINK_URL"]) as server:
        await until_written(server, key)
        want = exact(await asyncio.to_thread(variant_totals, server, key))
    # The facts topic is kept by retention: the rebuild must not need any of it.
    await delete_every_record(servers.bootstrap, topics.facts)
    with open_sink(chdb_url) as embedded:  # empty: no database, no tables
        (done,) = await rebuild(embedded, servers.bootstrap, topics, batch_rows=7)
        assert done.table == "user_metrics" and done.rows >= USERS
        assert done.topic == topics.users_changelog
        assert exact(variant_totals(embedded, key)) == want


async def delete_every_record(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await admin.start()
    await consumer.start()
    try:
        (metadata,) = await admin.describe_topics([topic])
        ends = await consumer.end_offsets([TopicPartition(topic, p["partition"])
                                           for p in metadata["partitions"]])
        assert sum(ends.values()) > 0
        await admin.delete_records({tp: RecordsToDelete(end) for tp, end in ends.items()})
    finally:
        await consumer.stop()
        await admin.close()
    assert not await read_topic(bootstrap, topic)


async def test_a_missing_topic_is_named(servers: Any, chdb_url: str) -> None:
    with open_sink(chdb_url) as sink, pytest.raises(RebuildError,
                                                    match=r"no topic nosuch-users-changelog"):
        await rebuild(sink, servers.bootstrap, TopicNames("nosuch"))


def test_an_unreachable_store_is_named_without_its_password(
        workers: list[WorkerProcess], monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setenv("ABSTREAM_KAFKA_BOOTSTRAP", workers[0].env["ABSTREAM_KAFKA_BOOTSTRAP"])
    monkeypatch.setenv("ABSTREAM_TOPIC_PREFIX", workers[0].env["ABSTREAM_TOPIC_PREFIX"])
    url = "clickhouse://ops:s3cret-pw@127.0.0.1:1/lost?connect_timeout=1"
    assert main(["rebuild-results", "--sink-url", url]) == 1
    captured = capsys.readouterr()
    assert "abstream: error: clickhouse://ops:***@127.0.0.1:1/lost" in captured.err
    assert "s3cret-pw" not in captured.out + captured.err
