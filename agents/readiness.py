"""When a worker is ready for traffic, and what it is waiting for when it is not.

A worker is ready once it has read the config log up to where it stood at start,
its consumer group has given it its partitions (possibly none, with more workers
than partitions), and it is neither in a rebalance nor restoring its tables from
their changelogs. `/health` answers regardless: it only says the process and its
event loop respond.
"""

from __future__ import annotations

from dataclasses import dataclass

import faust

CONFIG, ASSIGNMENT, REBALANCE, RECOVERY = "config", "assignment", "rebalance", "recovery"


@dataclass(frozen=True)
class WorkerState:
    config_read: bool  # the config log is read up to the end offsets seen at start
    assigned: bool  # the group has assigned this worker's partitions and they were taken over
    rebalancing: bool  # a rebalance started and its partitions are not all taken over yet
    recovering: bool  # tables are being restored from their changelog topics


def waiting_for(state: WorkerState) -> list[str]:
    """What keeps the worker from being ready; empty when it is ready."""
    reasons = [] if state.config_read else [CONFIG]
    if state.recovering:  # recovery is part of a rebalance: name the part that takes long
        reasons.append(RECOVERY)
    elif state.rebalancing:
        reasons.append(REBALANCE)
    elif not state.assigned:
        reasons.append(ASSIGNMENT)
    return reasons


def stream_state(app: faust.App) -> tuple[bool, bool, bool]:
    """(assigned, rebalancing, recovering) of a running Faust app.

    Faust sets `rebalancing` when partitions are revoked and clears it once the new
    assignment's tables are recovered; `in_recovery` while it reads changelogs; its
    recovery's `completed` event once the first assignment was taken over.
    """
    recovery = app.tables.recovery
    assigned = recovery.completed.is_set()
    return assigned, bool(app.rebalancing), bool(recovery.in_recovery)
