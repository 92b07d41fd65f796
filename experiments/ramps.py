"""Ramp schedules as pure functions: how a change moves a schedule, and what it waits for.

A schedule is a list of coverage steps; its state (the step, when it started, and
why it is suspended, if it is) is part of the experiment's document, so every
worker and every new leader reads the same state from the config log. The rules:

- declaring a ramp (or declaring it again, which is how a suspended one resumes)
  starts it at the first step whose coverage reaches the current coverage, and
  sets the coverage to that step's; a draft starts at the first step, and the
  step's clock starts when the experiment is activated;
- the scheduler's change to the next step's coverage is the advance;
- anyone else changing coverage, variants or targeting, or pausing, suspends it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from experiments.errors import ConfigError, Problem
from experiments.model import Experiment, RampState, Status

SCHEDULER = "scheduler"  # the actor of every advance and automatic rollback
SUSPENDING_FIELDS = ("coverage", "variants", "targeting")


def follow_ramp(before: Mapping[str, Any], after: dict[str, Any], patch: Mapping[str, Any],
                actor: str, now: datetime) -> None:
    """Set `after`'s ramp state (and coverage, when a ramp is declared) for this change."""
    steps = _coverages(after.get("ramp"))
    if not steps:
        after.pop("ramp_state", None)  # no schedule, or one validation will refuse
        return
    owner = f"experiment {after.get('key')!r}"
    draft = before.get("status", Status.DRAFT.value) == Status.DRAFT.value
    if after.get("status") == Status.CONCLUDED.value:
        if "ramp" in patch:
            raise ConfigError([Problem(owner, "ramp", "a concluded experiment has no schedule")])
        return
    current = 0.0 if draft else float(before.get("coverage", 100))
    start = _step_reaching(steps, current)
    state = dict(after.get("ramp_state") or {"step": start or 0, "step_started_at": None,
                                             "suspended": None})
    if "ramp" in patch or draft:  # the schedule sets the coverage
        if start is None:
            raise ConfigError([Problem(owner, "ramp", f"every step is below the current "
                                       f"coverage ({current:g} %): a ramp only goes up")])
        step = start if "ramp" in patch else min(int(state.get("step") or 0), len(steps) - 1)
        if "coverage" in patch and patch["coverage"] != steps[step]:
            raise ConfigError([Problem(owner, "coverage", "the ramp sets the coverage: change "
                                       "its steps instead, or remove the ramp")])
        after["coverage"] = steps[step]
    active = after.get("status") == Status.ACTIVE.value
    if "ramp" in patch:
        state = {"step": start, "step_started_at": now.isoformat() if active else None,
                 "suspended": None}
    elif actor == SCHEDULER and _is_advance(state, steps, patch):
        state = {**state, "step": state["step"] + 1, "step_started_at": now.isoformat()}
    elif actor != SCHEDULER and not draft:  # a draft's schedule has not started
        changed = [f for f in SUSPENDING_FIELDS if f in patch]
        if patch.get("status") == Status.PAUSED.value:
            changed.append("status (paused)")
        if changed and state.get("suspended") is None:
            state["suspended"] = (f"{actor} changed {', '.join(changed)}: the schedule waits "
                                  "until it is resumed")
    if active and state.get("step_started_at") is None:  # activated: the step's clock starts
        state["step_started_at"] = now.isoformat()
    after["ramp_state"] = state


def _step_reaching(steps: Sequence[float], coverage: float) -> int | None:
    """The first step whose coverage reaches `coverage`; None when every step is below."""
    return next((i for i, c in enumerate(steps) if c >= coverage), None)


def stopped(document: Mapping[str, Any], reason: str) -> dict[str, Any]:
    """The document with its schedule suspended for `reason` (a breach, an SRM)."""
    state = {"step": 0, "step_started_at": None, **(document.get("ramp_state") or {}),
             "suspended": reason}
    return {**document, "ramp_state": state}


def _coverages(raw: Any) -> list[float]:
    try:
        return [float(step["coverage"]) for step in raw or ()]
    except (TypeError, KeyError, ValueError, OverflowError):  # validation says why
        return []


def _is_advance(state: Mapping[str, Any], steps: Sequence[float],
                patch: Mapping[str, Any]) -> bool:
    step = state.get("step")
    return (isinstance(step, int) and step + 1 < len(steps) and "coverage" in patch
            and patch["coverage"] == steps[step + 1])


@dataclass(frozen=True)
class RampProgress:
    """Where a schedule stands and, when it cannot advance yet, what it waits for."""

    state: str  # waiting, ready, suspended, paused, done
    step: int
    steps: int
    coverage: float
    next_coverage: float | None
    step_started_at: datetime | None
    waiting_for: tuple[str, ...]
    suspended: str | None


def ramp_state_of(experiment: Experiment) -> RampState:
    """The stored state, or where a schedule without one (a file's experiment) stands."""
    if experiment.ramp_state is not None:
        return experiment.ramp_state
    step = _step_reaching([s.coverage for s in experiment.ramp], experiment.coverage)
    return RampState(max(len(experiment.ramp) - 1, 0) if step is None else step,
                     experiment.phases[-1].started_at)


def progress(experiment: Experiment, exposed: int, now: datetime) -> RampProgress | None:
    """The schedule's progress, given the current phase's exposed users; None without one."""
    if not experiment.ramp:
        return None
    state = ramp_state_of(experiment)
    step = experiment.ramp[state.step]
    last = state.step + 1 >= len(experiment.ramp)
    waiting: list[str] = []
    if state.step_started_at is None:
        waiting.append("activation")
    else:
        elapsed = (now - _utc(state.step_started_at)).total_seconds() / 3600
        if elapsed < step.min_hours:
            waiting.append(f"{step.min_hours - elapsed:.2f} more hours "
                           f"(the step lasts at least {step.min_hours:g})")
    if exposed < step.min_exposed:
        waiting.append(f"{step.min_exposed - exposed:,} more exposed users "
                       f"({exposed:,} of {step.min_exposed:,})")
    if experiment.status is not Status.ACTIVE:
        label = "done" if experiment.status is Status.CONCLUDED else "paused"
    elif state.suspended is not None:
        label = "suspended"
    elif last:
        label = "done"
    else:
        label = "waiting" if waiting else "ready"
    return RampProgress(label, state.step, len(experiment.ramp), step.coverage,
                        None if last else experiment.ramp[state.step + 1].coverage,
                        state.step_started_at, tuple(waiting) if not last else (),
                        state.suspended)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
