"""A ramp schedule's progress as `GET /experiments/{key}` shows it: the current step,
when it started and what it waits for (time, exposed users), or why it is suspended."""

from __future__ import annotations

from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiohttp import web

from api.results import Results
from experiments.ramps import progress
from sinks.totals import exposed_users


async def ramp_status(results: Results, key: str) -> dict[str, Any] | None:
    """None for an experiment without a schedule; exposures are the current phase's."""
    experiment = results.snapshot().experiment(key)
    if experiment is None or not experiment.ramp:
        return None
    note = None
    try:
        counts = await results.query(partial(exposed_users, experiment=key,
                                             phase=experiment.phase))
        exposed = sum(counts.values())
    except web.HTTPServiceUnavailable as exc:
        exposed, note = 0, f"exposed users unknown: {exc.reason}"
    state = progress(experiment, exposed, datetime.now(UTC))
    if state is None:
        return None
    return {
        "state": state.state, "step": state.step + 1, "steps": state.steps,
        "coverage": state.coverage, "next_coverage": state.next_coverage,
        "step_started_at": state.step_started_at.isoformat() if state.step_started_at
        else None,
        "exposed_users": exposed, "waiting_for": [*state.waiting_for, *filter(None, [note])],
        "suspended": state.suspended,
    }
