"""Ramp schedules, their state and guardrails: document to model and back.

    ramp:        [{coverage: 1, min_hours: 24, min_exposed: 1000}, {coverage: 5, ...}, ...]
    ramp_state:  {step: 0, step_started_at: "...", suspended: null}     (computed)
    guardrails:  [{metric: "errors", margin: 0.02, relative: true, higher_is_better: false}]
    on_breach:   pause | alert
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experiments.model import BreachAction, Experiment, Guardrail, Phase, RampState, RampStep
from experiments.reader import NUMBER, Reader


def parse_ramp(read: Reader, raw: Any) -> tuple[RampStep, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        read.problem("ramp", "must be a list of steps ({coverage, min_hours, min_exposed})")
        return ()
    steps = []
    for i, item in enumerate(raw):
        path = f"ramp[{i}]"
        doc = read.mapping(item, path, {"coverage", "min_hours", "min_exposed"})
        steps.append(RampStep(
            coverage=float(read.get(doc, "coverage", NUMBER, path) or 0.0),
            min_hours=float(read.get(doc, "min_hours", NUMBER, path, 0.0)),
            min_exposed=int(read.get(doc, "min_exposed", int, path, 0)),
        ))
    return tuple(steps)


def parse_ramp_state(read: Reader, raw: Any) -> RampState | None:
    if raw is None:
        return None
    doc = read.mapping(raw, "ramp_state", {"step", "step_started_at", "suspended"})
    return RampState(step=int(read.get(doc, "step", int, "ramp_state", 0)),
                     step_started_at=read.time(doc, "step_started_at", "ramp_state"),
                     suspended=read.get(doc, "suspended", str, "ramp_state", None))


def parse_guardrails(read: Reader, raw: Any) -> tuple[Guardrail, ...]:
    guardrails = []
    if raw is None:
        return ()
    for i, item in enumerate(read.get({"guardrails": raw}, "guardrails", list, "", []) or []):
        path = f"guardrails[{i}]"
        doc = read.mapping(item, path, {"metric", "margin", "relative", "higher_is_better"})
        guardrails.append(Guardrail(
            metric=read.get(doc, "metric", str, path) or "",
            margin=float(read.get(doc, "margin", NUMBER, path) or 0.0),
            relative=bool(read.get(doc, "relative", bool, path, True)),
            higher_is_better=bool(read.get(doc, "higher_is_better", bool, path, True)),
        ))
    return tuple(guardrails)


def parse_on_breach(read: Reader, doc: Mapping) -> BreachAction | None:
    if doc.get("on_breach") is None:
        return None
    return read.choice(doc, "on_breach", BreachAction, "", None)


def parse_phase(read: Reader, doc: Any, path: str) -> Phase:
    doc = read.mapping(doc, path, {"number", "started_at", "weights", "coverage"})
    number = read.get(doc, "number", int, path)
    weights = read.get(doc, "weights", Mapping, path, None)
    if weights is not None and not all(isinstance(w, NUMBER) and not isinstance(w, bool)
                                       for w in weights.values()):
        read.problem(f"{path}.weights", "must map variant keys to numbers")
        weights = None
    coverage = read.get(doc, "coverage", NUMBER, path, None)
    return Phase(1 if number is None else number,  # validation checks its range
                 read.time(doc, "started_at", path),
                 None if weights is None else {str(k): float(w) for k, w in weights.items()},
                 None if coverage is None else float(coverage))


def phase_document(phase: Phase) -> dict[str, Any]:
    doc: dict[str, Any] = {"number": phase.number,
                           "started_at": phase.started_at.isoformat() if phase.started_at
                           else None}
    if phase.weights is not None:
        doc["weights"] = dict(phase.weights)
    if phase.coverage is not None:
        doc["coverage"] = phase.coverage
    return doc


def ramp_fields(experiment: Experiment) -> dict[str, Any]:
    """The schedule's fields of an experiment document (absent when unused)."""
    doc: dict[str, Any] = {}
    if experiment.ramp:
        doc["ramp"] = [{"coverage": s.coverage, "min_hours": s.min_hours,
                        "min_exposed": s.min_exposed} for s in experiment.ramp]
    if experiment.ramp_state is not None:
        state = experiment.ramp_state
        doc["ramp_state"] = {"step": state.step,
                             "step_started_at": state.step_started_at.isoformat()
                             if state.step_started_at else None,
                             "suspended": state.suspended}
    if experiment.guardrails:
        doc["guardrails"] = [{"metric": g.metric, "margin": g.margin, "relative": g.relative,
                              "higher_is_better": g.higher_is_better}
                             for g in experiment.guardrails]
    if experiment.on_breach is not None:
        doc["on_breach"] = experiment.on_breach.value
    return doc
