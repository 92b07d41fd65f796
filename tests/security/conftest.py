from __future__ import annotations

import shutil
import uuid
from collections.abc import Iterator

import pytest

from abstream.worker_process import WorkerProcess
from tests.servers import TEST_PORTS, Servers
from tests.workers import WORKER_PORTS, api_tokens, results_url
from topology.settings import load_settings


@pytest.fixture(scope="module")
def guarded_worker(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[WorkerProcess]:
    """A worker whose reads need a token, whose intake is open, and that waits 2 s for a body."""
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    env = {
        "ABSTREAM_STACK": "test", "ABSTREAM_KAFKA_BOOTSTRAP": servers.bootstrap,
        "ABSTREAM_TOPIC_PREFIX": prefix, "ABSTREAM_TOPIC_PARTITIONS": "1",
        "ABSTREAM_SINK_URL": results_url(servers), "ABSTREAM_API_TOKENS": api_tokens(),
        "ABSTREAM_API_OPEN_READS": "false", "ABSTREAM_API_OPEN_INTAKE": "true",
        "ABSTREAM_BODY_TIMEOUT_S": "2",
        **{f"ABSTREAM_{name.upper()}": str(value) for name, value in TEST_PORTS.items()},
    }
    worker = WorkerProcess(WORKER_PORTS[0] + 10, env,
                           tmp_path_factory.mktemp("guarded") / "worker.log")
    worker.start()
    try:
        yield worker
    finally:
        worker.stop()
        shutil.rmtree(load_settings(stack="test", topic_prefix=prefix).worker_dir.parent,
                      ignore_errors=True)
