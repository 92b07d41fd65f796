"""Freshness: from an event produced to its effect visible in the results API.

    python -m bench.freshness [--probes 20] [--load-rate 1000] [--server]

One worker runs the demo's experiments and a probe experiment. A probe is one
exposure of a new user to the probe experiment, produced to Kafka; its latency
is the time from just before it is produced until
`GET /experiments/freshness_probe/results` counts it (polled every 50 ms).
Probes run one after another, first on an idle worker (the baseline), then
while simulated traffic for the demo's experiments flows at `--load-rate`
events/s. The path measured: Kafka, the join, the facts topic, the sink
writer's batch (1 s), the results store, the results API's cache (2 s).

Prints p50, p95 and max per phase, and the loaded / idle ratios. The results
store is embedded chDB by default; `--server` uses the local ClickHouse server.
"""

from __future__ import annotations

import argparse
import asyncio
import math
import re
import secrets
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from abstream.admin_client import AdminClient
from abstream.demo import apply_demo_config
from abstream.simulate import send_deliveries
from abstream.worker_process import WorkerProcess, settings_env
from experiments.exposures import exposure_event
from experiments.simulation import SimulationSpec, default_effects, simulate
from infra import Stack
from topology.producer import EventProducer
from topology.settings import Settings, load_settings

PORT = 26666
PROBE = "freshness_probe"
POLL_S = 0.05
GIVE_UP_S = 30.0


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


async def probe(client: AdminClient, producer: EventProducer, index: int) -> float:
    """Seconds from producing one exposure until the results count `index + 1` users."""
    started = time.monotonic()
    now = int(time.time() * 1000)
    await producer.send_exposures([exposure_event(
        event_id=f"probe-{index}", user_id=f"probe-user-{index}", experiment=PROBE,
        variant="a", phase=1, config_version=1, timestamp=now, attributes={}, source="bench")])
    while True:
        report = await asyncio.to_thread(client.get, f"/experiments/{PROBE}/results")
        if report["slices"] and sum(report["slices"][0]["exposures"].values()) > index:
            return time.monotonic() - started
        if time.monotonic() - started > GIVE_UP_S:
            return math.inf  # not visible: the worker has fallen behind the load
        await asyncio.sleep(POLL_S)


async def run_probes(settings: Settings, client: AdminClient, first: int, count: int,
                     load: list, rate: float) -> tuple[list[float], float]:
    """`count` probes, with `load` sent at `rate` events/s meanwhile; the latencies and
    the load's achieved rate."""
    producer = EventProducer(settings.bootstrap_servers, settings.topics)
    await producer.start()
    sent = [0]
    traffic = asyncio.create_task(paced(producer, load, rate, sent)) if load else None
    began = time.monotonic()
    try:
        if traffic:
            await asyncio.sleep(2)  # let the load reach the worker first
        latencies: list[float] = []
        for i in range(count):
            latencies.append(await probe(client, producer, first + i))
            if latencies[-2:] == [math.inf, math.inf]:
                break  # fallen behind: the next probes would wait as long
        return latencies, sent[0] / (time.monotonic() - began)
    finally:
        if traffic:
            traffic.cancel()
        await producer.stop()


async def paced(producer: EventProducer, deliveries: list, rate: float, sent: list[int]) -> None:
    """Send `deliveries` at about `rate` events/s, in tenth-of-a-second slices."""
    step = max(1, int(rate / 10))
    for start in range(0, len(deliveries), step):
        began = time.monotonic()
        await send_deliveries(producer, deliveries[start:start + step])
        sent[0] += len(deliveries[start:start + step])
        await asyncio.sleep(max(0.0, 0.1 - (time.monotonic() - began)))


def backlog(worker: WorkerProcess) -> dict[str, float]:
    """Where the worker stands: what its join and sink writers have not caught up with."""
    with urllib.request.urlopen(f"{worker.url}/metrics") as response:
        text = response.read().decode()

    def total(metric: str) -> float:
        return sum(float(v) for v in re.findall(rf"^{metric}(?:{{.*}})? (\S+)$", text, re.M))

    return {"join messages behind": total("abstream_consumer_lag_messages"),
            "join event-time lag s": total("abstream_event_time_lag_seconds"),
            "max sink lag s": max((float(v) for v in re.findall(
                r"^abstream_sink_lag_seconds(?:{.*})? (\S+)$", text, re.M)), default=0.0)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--probes", type=int, default=20, help="per phase (default 20)")
    parser.add_argument("--load-rate", type=float, default=1000.0,
                        help="simulated events/s during the loaded phase (default 1000)")
    parser.add_argument("--server", action="store_true", help="results on the ClickHouse server")
    args = parser.parse_args()
    base = load_settings()
    run_id = secrets.token_hex(4)
    state = Path(tempfile.mkdtemp(prefix="freshness-"))
    settings = base.model_copy(update={
        "topic_prefix": f"fresh-{run_id}", "database": f"fresh_{run_id}",
        "sink_url": base.clickhouse_server_url.rsplit("/", 1)[0] + f"/fresh_{run_id}"
        if args.server else f"chdb://{state / 'chdb'}?database=fresh_{run_id}"})
    services = ["kafka", "clickhouse"] if args.server else ["kafka"]
    started = [n for n, s in Stack(base).up(services).items() if s is not None]
    token = secrets.token_urlsafe(16)
    worker = WorkerProcess(PORT, {**settings_env(settings), "ABSTREAM_API_TOKENS":
                                  f"bench:{token}"}, state / "worker.log")
    try:
        worker.start()
        client = worker.client(token)
        snapshot = apply_demo_config(client)
        client.request("POST", "/experiments", {
            "key": PROBE, "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
            "metrics": [{"key": "n", "kind": "count", "event": "probe"}]})
        client.request("PATCH", f"/experiments/{PROBE}", {"status": "active"}, 1)
        seconds = args.probes * 4 + 10  # enough traffic to outlast the loaded probes
        users = max(1_000, int(args.load_rate * seconds / 3.2))  # ~3.2 events per user
        load = simulate(snapshot, SimulationSpec(
            users=users, now_ms=int(time.time() * 1000), effects=default_effects(snapshot)))
        idle, _ = asyncio.run(run_probes(settings, client, 0, args.probes, [], 0))
        loaded, achieved = asyncio.run(run_probes(settings, client, args.probes, args.probes,
                                                  load.deliveries, args.load_rate))
        behind = backlog(worker)
    finally:
        worker.stop()
        Stack(base).down(started)
        shutil.rmtree(settings.worker_dir.parent, ignore_errors=True)
        shutil.rmtree(state, ignore_errors=True)
    store = "ClickHouse server" if args.server else "embedded chDB"
    print(f"freshness: event produced → visible in /experiments/{{key}}/results "
          f"({args.probes} probes per phase, results in {store})")
    for name, values in (("idle", idle), (f"under {achieved:.0f} events/s", loaded)):
        missed = sum(v == math.inf for v in values)
        print(f"{name:<24} p50 {statistics.median(values):5.2f} s   "
              f"p95 {percentile(values, 0.95):5.2f} s   max {max(values):5.2f} s"
              + (f"   ({missed} of {len(values)} not visible within {GIVE_UP_S:.0f} s)"
                 if missed else ""))
    print("at the end of the loaded phase: " + ", ".join(
        f"{name} {value:.1f}" for name, value in behind.items()))
    print(f"loaded / idle: p50 {statistics.median(loaded) / statistics.median(idle):.2f}x, "
          f"p95 {percentile(loaded, 0.95) / percentile(idle, 0.95):.2f}x")


if __name__ == "__main__":
    main()
