"""How long after a SIGKILL the join processes events again, by session timeout.

    python -m bench.resume [--rounds 3] [--timeouts 30,10]

Per round and session timeout (`ABSTREAM_KAFKA_SESSION_TIMEOUT_S`): a worker
joins a fresh namespace and reads a first load of events; it is SIGKILLed, a
second load is produced (work waiting for it) and the worker is restarted at
once. Measured from the kill: when the new process answers `/health`, when it
reports `/ready` (joined, tables recovered), and when its first event is counted
(`abstream_events_in_total`).

The killed member stays in the consumer group until the broker has not heard
from it for the session timeout, and the group's rebalance waits for it: that
wait, not the table recovery, is most of the time. Prints the medians per timeout.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from abstream.admin_client import ApiError
from abstream.worker_process import WorkerProcess
from bench.pipeline import (
    PARTITIONS,
    events_in,
    fill,
    fresh_prefix,
    remove_state,
    wait_until_assigned,
    worker_env,
)
from infra import Stack
from topology.settings import load_settings
from topology.topics import TopicNames, abstream_topics, ensure_topics

PORT = 26480
USERS = 2_000


def one_round(bootstrap: str, timeout_s: int, logs: Path) -> dict[str, float]:
    prefix = fresh_prefix()
    names = TopicNames(prefix)
    env = worker_env(prefix) | {"ABSTREAM_KAFKA_SESSION_TIMEOUT_S": str(timeout_s)}
    asyncio.run(ensure_topics(bootstrap, abstream_topics(PARTITIONS, names)))
    worker = WorkerProcess(PORT, env, logs / f"worker-{prefix}.log")
    try:
        worker.start()
        wait_until_assigned(bootstrap, prefix, 1)
        _, first_load = asyncio.run(fill(bootstrap, names, USERS, 4))
        while events_in(worker) < first_load:
            time.sleep(0.1)
        time.sleep(2)  # a commit and a positions write after the last batch
        killed = time.perf_counter()
        worker.kill()
        asyncio.run(fill(bootstrap, names, USERS, 4))
        worker.start(until="health")
        health = time.perf_counter() - killed
        ready = None
        while True:
            if ready is None and _ready(worker):
                ready = time.perf_counter() - killed
            if events_in(worker) > 0:
                return {"health": health, "ready": ready or time.perf_counter() - killed,
                        "first event": time.perf_counter() - killed}
            time.sleep(0.1)
    finally:
        worker.stop()
        remove_state(prefix)


def _ready(worker: WorkerProcess) -> bool:
    try:
        return bool(worker.client().get("/ready").get("ready"))
    except ApiError:  # 503 until it is
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeouts", default="30,10",
                        help="session timeouts in seconds, comma-separated (the default: 30)")
    args = parser.parse_args()
    settings = load_settings()
    timeouts = [int(t) for t in args.timeouts.split(",")]
    started = [n for n, s in Stack(settings).up(["kafka"]).items() if s is not None]
    try:
        with tempfile.TemporaryDirectory() as logs:
            runs = {t: [one_round(settings.bootstrap_servers, t, Path(logs))
                        for _ in range(args.rounds)] for t in timeouts}
    finally:
        Stack(settings).down(started)
    print(f"seconds from SIGKILL, restarted at once; medians of {args.rounds} rounds")
    for timeout, rounds in runs.items():
        medians = {name: statistics.median(r[name] for r in rounds) for name in rounds[0]}
        firsts = ", ".join(f"{r['first event']:.1f}" for r in rounds)
        print(f"session timeout {timeout:>3} s: " + ", ".join(
            f"{name} {value:.1f}" for name, value in medians.items())
            + f"  (first event per round: {firsts})")


if __name__ == "__main__":
    main()
