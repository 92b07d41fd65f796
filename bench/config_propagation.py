"""Propagation of config changes to running workers.

    python -m bench.config_propagation [--changes 50]

Starts the local broker (if needed) and two workers on a fresh topic namespace,
then makes `--changes` changes through the first worker's API, alternating a
pause and a resume, and times from the write being sent until each worker's
`GET /config` shows it. Prints median and p99 per worker and overall.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from abstream.worker_process import WorkerProcess
from infra import Stack
from topology.settings import load_settings

TOKEN = "bench-token-0001"


def seen(worker: WorkerProcess, key: str, status: str, deadline: float) -> float:
    client = worker.client()
    while time.perf_counter() < deadline:
        config = client.get("/config")
        if any(e["key"] == key and e["status"] == status for e in config["experiments"]):
            return time.perf_counter()
        time.sleep(0.005)
    raise TimeoutError(f"{worker.url} never showed {key} as {status}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--changes", type=int, default=50)
    changes = parser.parse_args().changes
    settings = load_settings()
    started = [n for n, s in Stack(settings).up(["kafka"]).items() if s is not None]
    env = {"ABSTREAM_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
           "ABSTREAM_API_TOKENS": f"bench:{TOKEN}", "ABSTREAM_TOPIC_PARTITIONS": "1",
           "ABSTREAM_WRITE_RESULTS": "false"}
    with tempfile.TemporaryDirectory() as logs:
        workers = [WorkerProcess(port, env, Path(logs) / f"{port}.log") for port in (26166, 26167)]
        try:
            for worker in workers:
                worker.start()
            delays = run(workers, changes)
        finally:
            for worker in workers:
                worker.stop()
            Stack(settings).down(started)
            state = load_settings(topic_prefix=env["ABSTREAM_TOPIC_PREFIX"]).worker_dir.parent
            shutil.rmtree(state, ignore_errors=True)
    print(f"config change → visible in GET /config, {changes} changes, milliseconds")
    for name, values in delays.items():
        ordered = sorted(values)
        print(f"{name:<12} median {statistics.median(ordered) * 1000:7.1f}   "
              f"p99 {ordered[int(0.99 * (len(ordered) - 1))] * 1000:7.1f}   "
              f"max {ordered[-1] * 1000:7.1f}")


def run(workers: list[WorkerProcess], changes: int) -> dict[str, list[float]]:
    admin = workers[0].client(TOKEN)
    key = f"bench_{uuid.uuid4().hex[:8]}"
    _, created = admin.request("POST", "/experiments", {
        "key": key, "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]})
    version = created["version"]
    delays: dict[str, list[float]] = {f"worker {w.port}": [] for w in workers}
    delays["both"] = []
    for i in range(changes):
        status = "active" if i % 2 == 0 else "paused"
        sent = time.perf_counter()
        _, body = admin.request("PATCH", f"/experiments/{key}", {"status": status}, version)
        version = body["version"]
        arrivals = [seen(w, key, status, sent + 30) - sent for w in workers]
        for worker, delay in zip(workers, arrivals, strict=True):
            delays[f"worker {worker.port}"].append(delay)
        delays["both"].append(max(arrivals))
    return delays


if __name__ == "__main__":
    main()
