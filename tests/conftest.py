from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from abstream.worker_process import WorkerProcess
from tests.servers import TEST_PORTS, Servers, open_servers
from tests.workers import WORKER_PORTS, api_tokens, results_url
from topology.settings import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The test stack: its own state dir and ports, the shared jar cache."""
    return load_settings(stack="test", **TEST_PORTS)


@pytest.fixture(scope="session")
def servers(settings: Settings) -> Iterator[Servers]:
    with open_servers(settings) as found:
        yield found


@pytest.fixture
def unique_name() -> str:
    """A fresh name for a topic or table, so tests never see each other's data."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def chdb_url(tmp_path: Path) -> str:
    return f"chdb://{tmp_path / 'chdb'}?database=abstream_test"


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
        "ABSTREAM_RAMP_CHECK_INTERVAL_S": "1",
        "ABSTREAM_GRACE_MINUTES": "10",  # short, so the scenario tests can pass it
        "ABSTREAM_API_TOKENS": api_tokens(),
        **{f"ABSTREAM_{name.upper()}": str(value) for name, value in TEST_PORTS.items()},
    }
    started = [WorkerProcess(port, env, Path(logs) / f"worker-{port}.log")
               for port in WORKER_PORTS]
    try:
        for worker in started:
            worker.start()
        yield started
    finally:
        for worker in started:
            worker.stop()
        state = load_settings(stack="test", topic_prefix=env["ABSTREAM_TOPIC_PREFIX"])
        shutil.rmtree(state.worker_dir.parent, ignore_errors=True)  # this run's RocksDB
