"""A worker whose results store cannot be reached: it says so (503), keeps its password out
of its log, and still stops promptly on SIGTERM."""

from __future__ import annotations

import shutil
import time
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from abstream.admin_client import ApiError
from abstream.worker_process import WorkerProcess
from tests.agents.test_pipeline import create_experiment
from tests.agents.traffic import exposure, sigterm_exit_code
from tests.servers import TEST_PORTS, Servers
from tests.workers import TOKENS
from topology.producer import EventProducer
from topology.settings import load_settings
from topology.topics import TopicNames

pytestmark = pytest.mark.infra
PORT = 29601  # workers that tests start themselves: 29600-29699
PASSWORD = "s3cret"
STORE = f"clickhouse://user:{PASSWORD}@127.0.0.1:1/db"  # nothing listens on port 1


@pytest.fixture(scope="module")
def worker(servers: Servers, tmp_path_factory: pytest.TempPathFactory) -> Iterator[WorkerProcess]:
    prefix = f"down-{uuid.uuid4().hex[:8]}"
    env = {"ABSTREAM_STACK": "test", "ABSTREAM_KAFKA_BOOTSTRAP": servers.bootstrap,
           "ABSTREAM_TOPIC_PREFIX": prefix, "ABSTREAM_TOPIC_PARTITIONS": "1",
           "ABSTREAM_API_TOKENS": f"alice:{TOKENS['alice']}", "ABSTREAM_SINK_URL": STORE,
           "ABSTREAM_SRM_CHECK_INTERVAL_S": "1",
           **{f"ABSTREAM_{k.upper()}": str(v) for k, v in TEST_PORTS.items()}}
    process = WorkerProcess(PORT, env, tmp_path_factory.mktemp("down") / "worker.log",
                            loglevel="info")
    process.start()
    try:
        yield process
    finally:
        process.stop()
        state = load_settings(stack="test", topic_prefix=prefix)
        shutil.rmtree(state.worker_dir.parent, ignore_errors=True)


def test_results_answer_503_with_the_reason_when_the_store_is_down(
    worker: WorkerProcess
) -> None:
    key = f"down_{uuid.uuid4().hex[:8]}"
    create_experiment(worker, key)
    with pytest.raises(ApiError) as caught:
        worker.client().get(f"/experiments/{key}/results")
    assert caught.value.status == 503, caught.value
    assert "results store unavailable" in str(caught.value)
    assert PASSWORD not in str(caught.value)


def test_the_read_path_s_counted_errors_are_on_metrics(worker: WorkerProcess) -> None:
    with urllib.request.urlopen(f"{worker.url}/metrics") as response:
        text = response.read().decode()
    for name in ("abstream_assignment_errors_total", "abstream_exposure_logger_errors_total"):
        assert f"\n{name} " in text, name


async def test_sigterm_stops_it_within_seconds_and_its_log_never_shows_the_password(
    servers: Servers, worker: WorkerProcess
) -> None:
    assert worker.process is not None
    producer = EventProducer(servers.bootstrap, TopicNames(worker.env["ABSTREAM_TOPIC_PREFIX"]))
    await producer.start()
    try:  # batches the writers hold and cannot write
        now = int(time.time() * 1000)
        await producer.send_exposures([exposure(f"u{i}", "down", "a", now) for i in range(20)])
    finally:
        await producer.stop()
    wait_for_line(worker.log_file, "failed, retrying")
    time.sleep(3)  # the exposures reach the writers
    code = sigterm_exit_code(worker, 20)
    assert code == 0, f"exit code {code}; see {worker.log_file}"
    text = worker.log_file.read_text()
    assert "user:***@127.0.0.1:1/db" in text  # the store is named, without its password
    assert PASSWORD not in text


def wait_for_line(log_file: Path, needle: str, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while needle not in log_file.read_text():
        assert time.monotonic() < deadline, f"no {needle!r} in {log_file} after {timeout_s} s"
        time.sleep(0.2)
