"""The experiment page's server-side cost next to the results API's, on a large store.

    python -m bench.console [--users 100000] [--rounds 20] [--stores chdb,server]

One experiment with 3 variants, 10 metrics and a dimension of 5 values, over
`--users` users × 10 metrics rows of `user_metrics` (1,000,000 by default), first
exposures spread over 3 days. Per results store (embedded chDB, the local
ClickHouse server), a worker serves it; each round asks the results API and then
renders the console's experiment page (which also draws the cumulative charts
and, overall, the power plan), overall and by the dimension, each after the
results' 1 s cache has expired (the charts' answer is kept for a minute). Prints
the medians of `--rounds`, the page / API ratios, and the first, cold round.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import tempfile
import time
import urllib.request
import uuid
from pathlib import Path

from abstream.worker_process import WorkerProcess
from infra import Stack
from sinks import open_sink
from sinks.migrations import migrate
from sinks.tables import USER_METRIC_COLUMNS
from topology.settings import load_settings

PORT = 26690
KEY = "bench_console"
VARIANTS = ("control", "b", "c")
WEIGHTS = (34, 33, 33)
PLATFORMS = ("web", "ios", "android", "tv", "desktop")
METRICS = [{"key": f"m{i}", "kind": "conversion" if i % 2 else "sum", "event": f"e{i}"}
           for i in range(10)]
TOKEN = "bench-console-token"
CACHE_S = 1.1


def fill(url: str, users: int) -> int:
    """`users` × 10 rows of user_metrics for the experiment's phase 1."""
    rng = random.Random(7)
    now = int(time.time() * 1000)
    rows = []
    with open_sink(url) as sink:
        migrate(sink)
        for user in range(users):
            variant = VARIANTS[0 if user % 100 < 34 else 1 if user % 100 < 67 else 2]
            platform = PLATFORMS[rng.randrange(5)]
            first = now - rng.randrange(3 * 86_400_000)
            for metric in METRICS:
                value = float(rng.random() < 0.1) if metric["kind"] == "conversion" else \
                    rng.expovariate(0.1)
                rows.append((KEY, 1, variant, f"u{user}", metric["key"], value,
                             rng.random(), 0.0, 0.0, first, 0, ["platform"], [platform], 1))
            if len(rows) >= 200_000:
                sink.insert("user_metrics", USER_METRIC_COLUMNS, rows)
                rows = []
        if rows:
            sink.insert("user_metrics", USER_METRIC_COLUMNS, rows)
    return users * len(METRICS)


def timed_get(url: str) -> float:
    request = urllib.request.Request(url, headers={"Accept": "text/html"})
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()
        assert response.status == 200
    return time.perf_counter() - started


def measure(url: str, users: int, rounds: int, logs: Path) -> dict[str, float]:
    rows = fill(url, users)
    prefix = f"benchconsole-{uuid.uuid4().hex[:8]}"
    worker = WorkerProcess(PORT, {"ABSTREAM_TOPIC_PREFIX": prefix, "ABSTREAM_SINK_URL": url,
                                  "ABSTREAM_API_TOKENS": f"bench:{TOKEN}"},
                           logs / f"worker-{prefix}.log")
    worker.start()
    try:
        client = worker.client(TOKEN)
        client.request("POST", "/experiments", {
            "key": KEY, "variants": [{"key": v, "weight": w} for v, w in zip(
                VARIANTS, WEIGHTS, strict=True)],
            "metrics": METRICS, "dimensions": ["platform"]})
        client.request("PATCH", f"/experiments/{KEY}", {"status": "active"}, version=1)
        paths = {"results API": f"/experiments/{KEY}/results",
                 "page": f"/ui/experiments/{KEY}",
                 "results API, by platform": f"/experiments/{KEY}/results?dimension=platform",
                 "page, by platform": f"/ui/experiments/{KEY}?dimension=platform"}
        # The first round is cold: the charts' answer (kept for a minute) is made then.
        cold = {}
        for name, path in paths.items():
            cold[name] = timed_get(worker.url + path)
            time.sleep(CACHE_S)
        times: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(rounds):
            for name, path in paths.items():
                times[name].append(timed_get(worker.url + path))
                time.sleep(CACHE_S)
        medians = {name: statistics.median(values) for name, values in times.items()}
        return {**medians, **{f"cold {name}": value for name, value in cold.items()},
                "rows": rows}
    finally:
        worker.stop()
        shutil.rmtree(load_settings(topic_prefix=prefix).worker_dir.parent, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--stores", default="chdb,server")
    args = parser.parse_args()
    settings = load_settings()
    stack = Stack(settings)
    stores = args.stores.split(",")
    started = [n for n, waited in stack.up(["kafka", *(["clickhouse"] if "server" in stores
                                                        else [])]).items() if waited]
    try:
        with tempfile.TemporaryDirectory() as scratch:
            for store in stores:
                database = f"bench_console_{uuid.uuid4().hex[:8]}"
                url = (f"chdb://{scratch}/chdb?database={database}" if store == "chdb" else
                       settings.clickhouse_server_url.rsplit("/", 1)[0] + f"/{database}")
                m = measure(url, args.users, args.rounds, Path(scratch))
                print(f"{store}: {int(m['rows']):,} user rows, medians of {args.rounds}")
                for view in ("", ", by platform"):
                    api, page = m[f"results API{view}"], m[f"page{view}"]
                    print(f"  {'overall' if not view else 'by platform':<12} results API "
                          f"{api * 1000:7.1f} ms   page {page * 1000:7.1f} ms   "
                          f"page / API {page / api:.2f}x   (first, cold: API "
                          f"{m[f'cold results API{view}'] * 1000:.0f} ms, page "
                          f"{m[f'cold page{view}'] * 1000:.0f} ms)")
                if store == "server":
                    with open_sink(url) as sink:
                        sink.command(f"DROP DATABASE IF EXISTS {database}")
    finally:
        stack.down(started)


if __name__ == "__main__":
    main()
