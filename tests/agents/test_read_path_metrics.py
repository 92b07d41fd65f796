"""The read path's counted errors (ReadStats, ClientStats) are Prometheus counters."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from agents.metrics import ReadPathStats
from experiments import ExperimentClient
from tests.experiments.test_client import snapshot


def scrape(registry: CollectorRegistry) -> dict[str, float]:
    lines = generate_latest(registry).decode().splitlines()
    return {line.split()[0]: float(line.split()[1]) for line in lines
            if line.startswith("abstream_") and line.split()[0].endswith("_total")}


def test_counted_errors_are_exported_and_never_go_down_across_snapshots() -> None:
    current = [snapshot()]
    client = ExperimentClient(lambda: current[0])
    registry = CollectorRegistry()
    registry.register(ReadPathStats(lambda: current[0], client))
    current[0].stats.errors += 2
    client.stats.logger_errors += 1
    client.stats.exposures_logged += 5
    client.stats.exposures_deduplicated += 3
    values = scrape(registry)
    assert values["abstream_assignment_errors_total"] == 2
    assert values["abstream_exposure_logger_errors_total"] == 1
    assert values["abstream_exposures_logged_total"] == 5
    assert values["abstream_exposures_deduplicated_total"] == 3

    current[0].stats.errors += 1  # after the last scrape, then a new config version
    current[0] = snapshot(phase=2)
    current[0].stats.errors += 4
    assert scrape(registry)["abstream_assignment_errors_total"] == 7
