"""Automatic rollback: from a guardrail breach becoming detectable to every worker serving
control.

    python -m bench.rollback [--runs 10] [--intervals 5,1]

Starts the local broker and ClickHouse server and, per check interval
(`ABSTREAM_RAMP_CHECK_INTERVAL_S`), two workers. Each run creates an experiment
guarding `purchases` with a 2 % margin and produces users in chunks of 250 every
0.25 s: an exposure each and Poisson purchases (mean 1, 10 % fewer in variant b).
After each chunk the bench computes, from what it has sent, the always-valid harm
bound (`analysis.guardrails`): the chunk whose data makes it cross the margin marks
the breach as detectable once Kafka has acknowledged it. The run ends when both
workers' `GET /assignments` give a user of b the control. The baseline, measured
the same way on the same workers, is a pause sent by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import secrets
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np

from abstream.worker_process import WorkerProcess, settings_env
from analysis import SampleStats, compare, non_inferiority
from experiments import ConfigSnapshot, parse_config
from experiments.exposures import exposure_event
from experiments.snapshot import assign_all
from infra import Stack
from topology.producer import EventProducer
from topology.settings import Settings, load_settings

PORTS = (26266, 26267)
CHUNK_USERS, CHUNK_S, MARGIN, EFFECT = 250, 0.25, 0.02, -0.10


def serving_control(workers: list[WorkerProcess], key: str, user: str) -> bool:
    answers = [w.client().get("/assignments", user_id=user)["assignments"][key]
               for w in workers]
    return all(a["variant"] == "a" for a in answers)


async def breach_run(settings: Settings, workers: list[WorkerProcess], token: str,
                     run: int) -> float:
    """Seconds from the breach being detectable in the data sent to control everywhere."""
    key = f"rollback_{run}_{secrets.token_hex(3)}"
    admin = workers[0].client(token)
    admin.request("POST", "/experiments", {
        "key": key, "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "purchases", "kind": "count", "event": "purchase"}],
        "guardrails": [{"metric": "purchases", "margin": MARGIN}]})
    admin.request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    served = admin.get("/config")
    config, _ = parse_config({k: served[k] for k in ("experiments", "layers", "holdout")})
    snapshot = ConfigSnapshot.build(config, version=served["version"])
    rng = np.random.default_rng(run)
    counts: dict[str, list[int]] = {"a": [], "b": []}
    producer = EventProducer(settings.bootstrap_servers, settings.topics)
    await producer.start()
    detectable_at, probe, index = None, None, 0
    try:
        while detectable_at is None:
            now = int(time.time() * 1000) - 60_000
            exposures, goals = [], []
            for _ in range(CHUNK_USERS):
                user, index = f"{key}-u{index}", index + 1
                variant = assign_all(snapshot, user, {})[key].variant
                probe = probe or (user if variant == "b" else None)
                bought = int(rng.poisson(1.0 + (EFFECT if variant == "b" else 0.0)))
                counts[variant].append(bought)
                exposures.append(exposure_event(
                    event_id=f"x-{user}", user_id=user, experiment=key, variant=variant,
                    phase=1, config_version=snapshot.version, timestamp=now, attributes={},
                    source="bench"))
                goals += [{"event_id": f"g-{user}-{i}", "user_id": user, "name": "purchase",
                           "value": 1.0, "timestamp": now + 1000 + i, "received_at": now,
                           "attributes": {}} for i in range(bought)]
            await producer.send_exposures(exposures)
            await producer.send_goals(goals)
            verdict = non_inferiority(compare(*(SampleStats.from_values(np.array(counts[v]))
                                                for v in "ab")), MARGIN)
            if verdict.harmful_always_valid:
                detectable_at = time.perf_counter()
            else:
                await asyncio.sleep(CHUNK_S)
    finally:
        await producer.stop()
    assert probe is not None
    while not serving_control(workers, key, probe):
        await asyncio.sleep(0.05)
    return time.perf_counter() - detectable_at


def hand_pause(workers: list[WorkerProcess], token: str, run: int) -> float:
    """Seconds from a pause sent by hand to control everywhere: the propagation floor."""
    key = f"paused_{run}_{secrets.token_hex(3)}"
    admin = workers[0].client(token)
    admin.request("POST", "/experiments", {
        "key": key, "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]})
    admin.request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    probe = next(f"p{i}" for i in range(1000)
                 if workers[0].client().get("/assignments", user_id=f"p{i}")
                 ["assignments"][key]["variant"] == "b")
    sent = time.perf_counter()
    admin.request("PATCH", f"/experiments/{key}", {"status": "paused"}, 2)
    while not serving_control(workers, key, probe):
        time.sleep(0.01)
    return time.perf_counter() - sent


def measure(base: Settings, interval: float, runs: int) -> tuple[list[float], list[float]]:
    run_id = secrets.token_hex(4)
    settings = base.model_copy(update={
        "topic_prefix": f"rollback-{run_id}", "database": f"rollback_{run_id}",
        "sink_url": base.clickhouse_server_url.rsplit("/", 1)[0] + f"/rollback_{run_id}",
        "ramp_check_interval_s": interval, "topic_partitions": 2})
    token = secrets.token_urlsafe(16)
    env = {**settings_env(settings), "ABSTREAM_API_TOKENS": f"bench:{token}"}
    logs = Path(tempfile.mkdtemp(prefix="rollback-"))
    workers = [WorkerProcess(port, env, logs / f"{port}.log") for port in PORTS]
    try:
        for worker in workers:
            worker.start()
        breaches = [asyncio.run(breach_run(settings, workers, token, run)) for run in range(runs)]
        pauses = [hand_pause(workers, token, run) for run in range(runs)]
    finally:
        for worker in workers:
            worker.stop()
        shutil.rmtree(settings.worker_dir.parent, ignore_errors=True)
        shutil.rmtree(logs, ignore_errors=True)
    return breaches, pauses


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[round(0.95 * (len(ordered) - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--intervals", default="5,1",
                        help="check intervals to compare, seconds (default 5,1; 5 is the default)")
    args = parser.parse_args()
    base = load_settings()
    started = [n for n, s in Stack(base).up(["kafka", "clickhouse"]).items() if s is not None]
    try:
        results = {float(i): measure(base, float(i), args.runs)
                   for i in args.intervals.split(",")}
    finally:
        Stack(base).down(started)
    print(f"guardrail breach detectable → both workers serve control, {args.runs} runs, s")
    for interval, (breaches, pauses) in results.items():
        floor = statistics.median(pauses)
        print(f"check every {interval:g} s: breach median {statistics.median(breaches):6.2f}  "
              f"p95 {p95(breaches):6.2f}  max {max(breaches):6.2f}   hand pause median "
              f"{floor:5.2f}  ratio {statistics.median(breaches) / floor:5.1f}x")


if __name__ == "__main__":
    main()
