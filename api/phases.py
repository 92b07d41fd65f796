"""An experiment's phases for the results API: choosing one, and listing all of them."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from experiments.model import Experiment, Phase


def phase_number(raw: str | None) -> int | None:
    """`?phase=N` as a number; None (the current phase) when absent."""
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"phase must be a whole number, not {raw[:40]!r}")\
            from None


def phase_of(experiment: Experiment, number: int | None) -> Phase:
    if number is None:
        return experiment.phases[-1]
    for phase in experiment.phases:
        if phase.number == number:
            return phase
    known = ", ".join(str(p.number) for p in experiment.phases)
    raise web.HTTPNotFound(reason=f"{experiment.key!r} has no phase {number} (phases: {known})")


def phase_list(experiment: Experiment) -> list[dict[str, Any]]:
    """Every phase with its allocation and dates; a phase ends when the next starts."""
    phases = experiment.phases
    return [{"number": phase.number,
             "started_at": phase.started_at.isoformat() if phase.started_at else None,
             "ended_at": (phases[i + 1].started_at.isoformat()
                          if i + 1 < len(phases) and phases[i + 1].started_at else None),
             "weights": dict(phase.weights) if phase.weights is not None
             else (experiment.weights if i + 1 == len(phases) else None),
             "coverage": phase.coverage if phase.coverage is not None
             else (experiment.coverage if i + 1 == len(phases) else None),
             "current": i + 1 == len(phases)}
            for i, phase in enumerate(phases)]
