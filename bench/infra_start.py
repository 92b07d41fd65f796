"""Start-up times of the local servers, cold (empty state dir) and warm (restart).

    python -m bench.infra_start [--rounds 3]

Prints the median seconds until each server answers (Kafka: a metadata
request; ClickHouse: SELECT 1), the warm/cold ratio, and the jar cache size.
Runs on its own ports and state dir, and removes them afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
from pathlib import Path

from infra import Stack
from topology.settings import load_settings

PORTS = {"kafka_port": 29292, "kafka_controller_port": 29293,
         "clickhouse_port": 29200, "clickhouse_http_port": 28323}


def measure(rounds: int) -> dict[str, dict[str, list[float]]]:
    times: dict[str, dict[str, list[float]]] = {
        name: {"cold": [], "warm": []} for name in ("kafka", "clickhouse")
    }
    base = load_settings()
    for _ in range(rounds):
        with tempfile.TemporaryDirectory(prefix="abstream-bench-") as scratch:
            settings = load_settings(
                local_dir=base.local_dir, stack=f"bench-{Path(scratch).name}",
                kafka_bootstrap=None, clickhouse_url=None, **PORTS,
            )
            stack = Stack(settings)
            try:
                for phase in ("cold", "warm"):
                    for name, seconds in stack.up().items():
                        times[name][phase].append(seconds or 0.0)
                    stack.down()
            finally:
                stack.down()
                shutil.rmtree(settings.home, ignore_errors=True)
    return times


def jar_cache_size(libs_dir: Path) -> tuple[int, int]:
    jars = list(libs_dir.glob("*.jar"))
    return len(jars), sum(jar.stat().st_size for jar in jars)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    rounds = parser.parse_args().rounds
    settings = load_settings()
    Stack(settings).install()
    times = measure(rounds)
    print(f"start-up to ready, median of {rounds} rounds (seconds)")
    print(f"{'server':<11} {'cold':>6} {'warm':>6} {'warm/cold':>10}")
    for name, phases in times.items():
        cold, warm = statistics.median(phases["cold"]), statistics.median(phases["warm"])
        print(f"{name:<11} {cold:>6.2f} {warm:>6.2f} {warm / cold:>10.2f}")
    count, size = jar_cache_size(settings.kafka_libs_dir)
    print(f"jar cache: {count} jars, {size / 2**20:.1f} MiB in {settings.kafka_libs_dir}")


if __name__ == "__main__":
    main()
