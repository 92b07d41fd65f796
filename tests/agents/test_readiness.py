"""When /ready says a worker is ready, and what it says it waits for otherwise."""

from __future__ import annotations

import pytest

from agents.readiness import WorkerState, waiting_for


def state(config: bool = True, assigned: bool = True, rebalancing: bool = False,
          recovering: bool = False) -> WorkerState:
    return WorkerState(config_read=config, assigned=assigned, rebalancing=rebalancing,
                       recovering=recovering)


def test_ready_once_config_read_and_partitions_taken_over() -> None:
    assert waiting_for(state()) == []


@pytest.mark.parametrize(("worker", "reasons"), [
    (state(config=False, assigned=False), ["config", "assignment"]),  # just started
    (state(assigned=False, rebalancing=True), ["rebalance"]),  # joining the group
    (state(assigned=False, rebalancing=True, recovering=True), ["recovery"]),
    (state(config=False, assigned=False, rebalancing=True, recovering=True),
     ["config", "recovery"]),
    (state(rebalancing=True), ["rebalance"]),  # another worker joined or left
    (state(rebalancing=True, recovering=True), ["recovery"]),  # taking over partitions
    (state(config=False), ["config"]),
])
def test_not_ready_says_what_it_waits_for(worker: WorkerState, reasons: list[str]) -> None:
    assert waiting_for(worker) == reasons
