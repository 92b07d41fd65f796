from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.worker_process import WorkerProcess
from tests.servers import TEST_PORTS, Servers
from topology.settings import load_settings

TOKENS = {"alice": "alice-secret-token", "bob": "bob-secret-token"}


def results_url(servers: Servers) -> str:
    """A database of its own on the test ClickHouse server, for one set of workers."""
    return servers.clickhouse_url.rsplit("/", 1)[0] + f"/t_{uuid.uuid4().hex[:12]}"


@pytest.fixture(scope="session")
def workers(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[WorkerProcess]]:
    """Two running workers on a fresh topic namespace of the test broker."""
    logs = tmp_path_factory.mktemp("workers")
    env = {
        "ABSTREAM_STACK": "test",
        "ABSTREAM_KAFKA_BOOTSTRAP": servers.bootstrap,
        "ABSTREAM_TOPIC_PREFIX": f"test-{uuid.uuid4().hex[:8]}",
        "ABSTREAM_TOPIC_PARTITIONS": "2",
        "ABSTREAM_REPARTITION": "true",
        "ABSTREAM_SINK_URL": results_url(servers),
        "ABSTREAM_SRM_CHECK_INTERVAL_S": "1",
        "ABSTREAM_SRM_PAUSE": "true",
        "ABSTREAM_GRACE_MINUTES": "10",  # short, so the scenario tests can pass it
        "ABSTREAM_API_TOKENS": ",".join(f"{actor}:{token}" for actor, token in TOKENS.items()),
        **{f"ABSTREAM_{name.upper()}": str(value) for name, value in TEST_PORTS.items()},
    }
    started = [WorkerProcess(port, env, Path(logs) / f"worker-{port}.log")
               for port in (26066, 26067)]
    try:
        for worker in started:
            worker.start()
        yield started
    finally:
        for worker in started:
            worker.stop()
        state = load_settings(stack="test", topic_prefix=env["ABSTREAM_TOPIC_PREFIX"])
        shutil.rmtree(state.worker_dir.parent, ignore_errors=True)  # this run's RocksDB
