"""Semantic checks of ramp schedules, their state and guardrails."""

from __future__ import annotations

import math
from collections.abc import Iterable

from experiments.model import Experiment

MAX_STEPS = 20
MAX_STEP_HOURS = 24 * 366  # a step longer than a year is a typo, not a plan
MAX_STEP_EXPOSED = 10**9
MAX_GUARDRAILS = 20


def ramp_problems(e: Experiment) -> Iterable[tuple[str, str]]:
    if len(e.ramp) > MAX_STEPS:
        yield "ramp", f"at most {MAX_STEPS} steps, not {len(e.ramp)}"
        return
    previous = 0.0
    for i, step in enumerate(e.ramp):
        if not 0 < step.coverage <= 100:
            yield f"ramp[{i}].coverage", "must be above 0 and at most 100 percent"
        elif step.coverage <= previous:
            yield f"ramp[{i}].coverage", (f"steps must increase: {step.coverage:g} follows "
                                          f"{previous:g}")
        previous = max(previous, step.coverage)
        if not (math.isfinite(step.min_hours) and 0 <= step.min_hours <= MAX_STEP_HOURS):
            yield f"ramp[{i}].min_hours", f"must be between 0 and {MAX_STEP_HOURS:,} hours"
        if not 0 <= step.min_exposed <= MAX_STEP_EXPOSED:
            yield f"ramp[{i}].min_exposed", f"must be between 0 and {MAX_STEP_EXPOSED:,}"
    state = e.ramp_state
    if state is not None and e.ramp and not 0 <= state.step < len(e.ramp):
        yield "ramp_state.step", f"must be a step of the ramp (0 to {len(e.ramp) - 1})"
    if state is not None and state.suspended is not None and len(state.suspended) > 2_000:
        yield "ramp_state.suspended", "at most 2,000 characters"


def guardrail_problems(e: Experiment) -> Iterable[tuple[str, str]]:
    if len(e.guardrails) > MAX_GUARDRAILS:
        yield "guardrails", f"at most {MAX_GUARDRAILS} guardrails, not {len(e.guardrails)}"
        return
    kinds = {m.key: m.kind for m in e.metrics}
    seen: set[str] = set()
    for i, guardrail in enumerate(e.guardrails):
        path = f"guardrails[{i}]"
        if guardrail.metric not in kinds:
            known = ", ".join(kinds) or "none"
            yield f"{path}.metric", f"{guardrail.metric!r} is not a metric of the experiment " \
                                    f"(metrics: {known})"
        elif guardrail.metric in seen:
            yield f"{path}.metric", f"{guardrail.metric!r} is guarded twice"
        seen.add(guardrail.metric)
        if not (math.isfinite(guardrail.margin) and guardrail.margin > 0):
            yield f"{path}.margin", "must be a number above 0 (0.02: 2 % when relative)"
        elif guardrail.relative and guardrail.higher_is_better and guardrail.margin >= 1:
            # A drop of 100 % or more is every value gone: no margin at all.
            yield f"{path}.margin", "a relative margin is a share below 1 (0.02 is 2 %)"


def phase_problems(e: Experiment) -> Iterable[tuple[str, str]]:
    for i, phase in enumerate(e.phases):
        if phase.coverage is not None and not 0 <= phase.coverage <= 100:
            yield f"phases[{i}].coverage", "must be between 0 and 100 percent"
        if phase.weights is not None and not all(math.isfinite(w) and w > 0
                                                 for w in phase.weights.values()):
            yield f"phases[{i}].weights", "must be numbers above 0"
