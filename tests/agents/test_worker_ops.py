"""A worker process as operators run it: JSON logs, and a clean stop on SIGTERM."""

from __future__ import annotations

import asyncio
import json
import shutil
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from abstream.worker_process import WorkerProcess
from tests.agents.test_pipeline import create_experiment
from tests.agents.traffic import exposure, metric, sigterm_exit_code
from tests.servers import TEST_PORTS, Servers
from tests.workers import api_tokens, results_url
from topology.producer import EventProducer, encode_records
from topology.settings import load_settings
from topology.topics import TopicNames

pytestmark = pytest.mark.infra
JSON_PORT, SIGTERM_PORT = 26766, 26767
USERS = 300


def worker_env(servers: Servers, prefix: str, **extra: str) -> dict[str, str]:
    return {"ABSTREAM_STACK": "test", "ABSTREAM_KAFKA_BOOTSTRAP": servers.bootstrap,
            "ABSTREAM_TOPIC_PREFIX": prefix, "ABSTREAM_TOPIC_PARTITIONS": "2",
            "ABSTREAM_API_TOKENS": api_tokens(),
            "ABSTREAM_SINK_URL": results_url(servers),
            **{f"ABSTREAM_{k.upper()}": str(v) for k, v in TEST_PORTS.items()}, **extra}


@pytest.fixture
def new_worker(tmp_path: Path) -> Iterator[Callable[..., WorkerProcess]]:
    """Makes workers; stops them and removes their state at the end."""
    made: list[WorkerProcess] = []

    def make(port: int, env: dict[str, str], loglevel: str = "warning") -> WorkerProcess:
        worker = WorkerProcess(port, env, tmp_path / f"worker-{port}.log", loglevel=loglevel)
        made.append(worker)
        return worker

    yield make
    for worker in made:
        worker.stop()
        state = load_settings(stack="test", topic_prefix=worker.env["ABSTREAM_TOPIC_PREFIX"])
        shutil.rmtree(state.worker_dir.parent, ignore_errors=True)


def test_json_logs_are_one_object_per_line(
    servers: Servers, new_worker: Callable[..., WorkerProcess]
) -> None:
    worker = new_worker(JSON_PORT, worker_env(servers, f"logs-{uuid.uuid4().hex[:8]}",
                                              ABSTREAM_LOG_FORMAT="json"), loglevel="info")
    worker.start()
    worker.client().get("/health")
    worker.stop()  # the shutdown's records too
    lines = [line for line in worker.log_file.read_text().splitlines() if line.strip()]
    records = [json.loads(line) for line in lines]  # fails on the first line that is not JSON
    for record in records:
        assert {"time", "level", "logger", "message"} <= record.keys(), record
        assert datetime.fromisoformat(record["time"]).utcoffset().total_seconds() == 0
        assert record["level"] in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
        if "exc_info" in record:
            assert record["exc_info"].startswith("Traceback"), record
    loggers = {record["logger"].split(".")[0] for record in records}
    assert {"faust", "aiokafka", "abstream"} <= loggers  # Faust's and the client's records too
    assert worker.process is not None and worker.process.returncode == 0


async def test_sigterm_commits_what_was_processed_and_exits_0(
    servers: Servers, new_worker: Callable[..., WorkerProcess]
) -> None:
    prefix = f"term-{uuid.uuid4().hex[:8]}"
    # Offsets are committed every 10 minutes: only the stop itself can commit them in time.
    worker = new_worker(SIGTERM_PORT, worker_env(servers, prefix,
                                                 ABSTREAM_COMMIT_INTERVAL_S="600"))
    worker.start()
    key = f"term_{uuid.uuid4().hex[:8]}"
    create_experiment(worker, key)
    names = TopicNames(prefix)
    producer = EventProducer(servers.bootstrap, names)
    await producer.start()
    try:
        now = int(time.time() * 1000) - 60_000
        # single-event records: the offsets below count one a user
        await producer.send_encoded(names.exposures, encode_records("exposure", [
            exposure(f"u{i}", key, "ab"[i % 2], now) for i in range(USERS)]))
    finally:
        await producer.stop()
    # Processed: read by the join, and the exposures and their facts written to the store.
    deadline = time.monotonic() + 60
    while (metric(worker, "abstream_events_in_total") < USERS
           or sink_rows(worker, "exposures_raw") < USERS
           or sink_rows(worker, "user_metrics") < USERS):
        assert time.monotonic() < deadline, "the exposures were not processed in 60 s"
        await asyncio.sleep(0.3)
    ends = {**await end_offsets(servers.bootstrap, names.exposures),
            **await end_offsets(servers.bootstrap, names.facts)}
    assert sum(n for tp, n in ends.items() if tp.topic == names.exposures) == USERS
    before = await committed_offsets(servers.bootstrap, prefix)
    assert {tp: before.get(tp) for tp in ends} != ends  # nothing committed them yet

    code = sigterm_exit_code(worker, 30)
    assert code == 0, f"exit code {code}; see {worker.log_file}"

    committed = await committed_offsets(servers.bootstrap, prefix)  # the group = the app id
    assert {tp: committed.get(tp) for tp in ends} == ends


def sink_rows(worker: WorkerProcess, table: str) -> float:
    with urllib.request.urlopen(f"{worker.url}/metrics") as response:
        lines = response.read().decode().splitlines()
    wanted = f'abstream_sink_rows_total{{table="{table}"}} '
    return sum(float(line.split()[-1]) for line in lines if line.startswith(wanted))


async def end_offsets(bootstrap: str, topic: str) -> dict[TopicPartition, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:  # the workers here make 2 partitions
        return await consumer.end_offsets([TopicPartition(topic, p) for p in range(2)])
    finally:
        await consumer.stop()


async def committed_offsets(bootstrap: str, group: str) -> dict[TopicPartition, int]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        offsets = await admin.list_consumer_group_offsets(group)
        return {tp: meta.offset for tp, meta in offsets.items()}
    finally:
        await admin.close()

