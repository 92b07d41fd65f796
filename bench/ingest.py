"""HTTP throughput of one worker process: assignment lookups and event intake.

    python -m bench.ingest [--seconds 10] [--connections 32]

Starts the local broker (if needed) and one worker on a fresh topic namespace,
creates 100 active experiments with targeting, then drives a bounded loopback
load with wrk (installed from Debian's packages if missing):

- GET /assignments for random users (every experiment per request);
- POST /events with batches of 100 goal events.

Prints requests/s, p50 and p99 latency, and events/s. Load generator, worker and
broker share this machine's cores, which caps what one worker can show here.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import tempfile
import uuid
from pathlib import Path

from abstream.worker_process import WorkerProcess
from infra import Stack
from infra.system import ensure_command
from topology.settings import load_settings

TOKEN = "bench-token-0001"
INTAKE_TOKEN = "bench-intake-token"
PORT = 26266
LOOKUP_SCRIPT = """
request = function()
  return wrk.format("GET", "/assignments?user_id=user-" .. math.random(1, 10000000) ..
                    "&country=US&app_version=4.3.0")
end
"""


def events_script(batch: int) -> str:
    events = [{"user_id": f"user-{i}", "name": "purchase", "value": 9.5} for i in range(batch)]
    body = json.dumps(events).replace("\\", "\\\\").replace('"', '\\"')
    return f'wrk.method = "POST"\nwrk.body = "{body}"\n' \
           'wrk.headers["Content-Type"] = "application/json"\n' \
           f'wrk.headers["Authorization"] = "Bearer {INTAKE_TOKEN}"\n'


def create_experiments(worker: WorkerProcess, count: int) -> None:
    admin = worker.client(TOKEN)
    for i in range(count):
        key = f"bench_{i}"
        admin.request("POST", "/experiments", {
            "key": key, "coverage": 80,
            "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
            "targeting": {"all": [
                {"attribute": "country", "op": "in", "value": ["US", "CA"]},
                {"attribute": "app_version", "op": "semver_gte", "value": "4.2.0"}]},
        })
        admin.request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)


def run_wrk(wrk: str, url: str, script: Path, seconds: int, connections: int) -> dict:
    output = subprocess.run(
        [wrk, "-t2", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), url],
        capture_output=True, text=True, check=True,
    ).stdout
    rate = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    latency = {p: _ms(re.search(rf"\s{p}%\s+([\d.]+\w+)", output).group(1)) for p in ("50", "99")}
    return {"rate": rate, "p50": latency["50"], "p99": latency["99"],
            "errors": int(errors.group(1)) if errors else 0}


def _ms(text: str) -> float:
    value, unit = re.match(r"([\d.]+)(\w+)", text).groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", default="8,32",
                        help="comma-separated concurrency levels to measure")
    args = parser.parse_args()
    levels = [int(level) for level in args.connections.split(",")]
    wrk = ensure_command("wrk", ["wrk"])
    settings = load_settings()
    started = [n for n, s in Stack(settings).up(["kafka"]).items() if s is not None]
    env = {"ABSTREAM_TOPIC_PREFIX": f"bench-{uuid.uuid4().hex[:8]}",
           "ABSTREAM_API_TOKENS": f"bench:{TOKEN},web:{INTAKE_TOKEN}:intake",
           "ABSTREAM_WRITE_RESULTS": "false"}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        worker = WorkerProcess(PORT, env, folder / "worker.log")
        try:
            worker.start()
            create_experiments(worker, 100)
            (folder / "lookup.lua").write_text(LOOKUP_SCRIPT)
            (folder / "events.lua").write_text(events_script(100))
            results = []
            for connections in levels:
                for name, path, script in (
                    ("GET /assignments (100 experiments)", "/assignments", "lookup.lua"),
                    ("POST /events (batches of 100)", "/events", "events.lua"),
                ):
                    measured = run_wrk(wrk, worker.url + path, folder / script, args.seconds,
                                       connections)
                    results.append((name, connections, measured))
        finally:
            worker.stop()
            Stack(settings).down(started)
            state = load_settings(topic_prefix=env["ABSTREAM_TOPIC_PREFIX"]).worker_dir.parent
            shutil.rmtree(state, ignore_errors=True)
    print(f"one worker process, {args.seconds} s per row")
    print(f"{'endpoint':<34} {'conns':>5} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} "
          f"{'events/s':>9} {'non-2xx':>8}")
    for name, connections, r in results:
        events = r["rate"] * 100 if "events" in name else r["rate"]
        print(f"{name:<34} {connections:>5} {r['rate']:>8.0f} {r['p50']:>8.2f} {r['p99']:>8.2f} "
              f"{events:>9.0f} {r['errors']:>8}")


if __name__ == "__main__":
    main()
