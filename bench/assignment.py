"""Assignment speed: abstream's `assign_all` against GrowthBook's Python SDK, same run.

    python -m bench.assignment

For 10, 100 and 500 active experiments, each with a targeting condition
(country in a list and a semantic-version check), it times every experiment
for each user: the whole set per user (median and p99 over users) and the
per-experiment cost (those times divided by the number of experiments: one
experiment alone is too short to time without the timer dominating). The
baseline is `growthbook.GrowthBook.run()` on the same users and experiments.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

from growthbook import Experiment as GBExperiment
from growthbook import GrowthBook

from experiments import ConfigSnapshot, assign_all, parse_config

COUNTRIES = ["US", "CA", "FR", "DE", "BR"]
VERSIONS = ["4.1.0", "4.2.0", "4.10.3", "5.0.0-beta.1"]


def users(count: int) -> list[tuple[str, dict[str, str]]]:
    return [(f"user-{i}", {"country": COUNTRIES[i % 5], "app_version": VERSIONS[i % 4]})
            for i in range(count)]


def abstream_snapshot(n: int) -> ConfigSnapshot:
    experiments = [{
        "key": f"exp{i}", "status": "active", "coverage": 80,
        "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
        "targeting": {"all": [
            {"attribute": "country", "op": "in", "value": ["US", "CA", "BR"]},
            {"attribute": "app_version", "op": "semver_gte", "value": "4.2.0"},
        ]},
    } for i in range(n)]
    config, problems = parse_config({"experiments": experiments})
    assert not problems, problems
    return ConfigSnapshot.build(config)


def growthbook_experiments(n: int) -> list[GBExperiment]:
    return [GBExperiment(
        key=f"exp{i}", variations=["control", "treatment"], weights=[0.5, 0.5], coverage=0.8,
        condition={"country": {"$in": ["US", "CA", "BR"]}, "app_version": {"$vgte": "4.2.0"}},
    ) for i in range(n)]


def per_user_seconds(
    population: list[tuple[str, dict[str, str]]], run_user: Callable[[str, dict], object]
) -> list[float]:
    times = []
    for user_id, attributes in population:
        start = time.perf_counter()
        run_user(user_id, attributes)
        times.append(time.perf_counter() - start)
    return times


def measure(n: int, abstream_users: int, growthbook_users: int) -> dict[str, tuple]:
    snapshot = abstream_snapshot(n)
    gb_experiments = growthbook_experiments(n)

    def run_growthbook(user_id: str, attributes: dict) -> None:
        gb = GrowthBook(attributes={"id": user_id, **attributes})
        for experiment in gb_experiments:
            gb.run(experiment)

    results = {}
    for name, run_user, count in (
        ("abstream", lambda u, a: assign_all(snapshot, u, a), abstream_users),
        ("growthbook", run_growthbook, growthbook_users),
    ):
        population = users(count)
        per_user_seconds(population[:50], run_user)  # warm-up
        times = sorted(per_user_seconds(population, run_user))
        median, p99 = statistics.median(times), times[int(0.99 * (len(times) - 1))]
        results[name] = (median, p99, median / n, p99 / n)
    return results


def main() -> None:
    print("assignment of every experiment for one user (targeting on every experiment)")
    header = (f"{'experiments':>11} {'sdk':>10} {'per user median':>16} {'p99':>10} "
              f"{'per experiment':>15} {'p99':>8} {'speed-up':>9}")
    print(header)
    for n, ours, theirs in ((10, 20_000, 2_000), (100, 5_000, 500), (500, 2_000, 100)):
        results = measure(n, ours, theirs)
        base = results["growthbook"][0]
        for name, (median, p99, per_experiment, per_experiment_p99) in results.items():
            print(f"{n:>11} {name:>10} {median * 1e6:>13.1f} µs {p99 * 1e6:>7.1f} µs "
                  f"{per_experiment * 1e9:>12.0f} ns {per_experiment_p99 * 1e9:>5.0f} ns "
                  f"{base / median:>8.1f}x")


if __name__ == "__main__":
    main()
