"""Documents (parsed YAML or JSON) to the frozen model, collecting every problem.

The way back, model to document, is `experiments.documents` (re-exported here).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experiments.allocation import Allocation, allocate
from experiments.documents import RANGE_CONVENTION
from experiments.documents import config_document as config_document
from experiments.documents import experiment_document as experiment_document
from experiments.errors import Problem
from experiments.model import (
    Config,
    Experiment,
    Holdout,
    Layer,
    Metric,
    MetricKind,
    Phase,
    RatioPart,
    Status,
    Variant,
)
from experiments.ramp_documents import (
    parse_guardrails,
    parse_on_breach,
    parse_phase,
    parse_ramp,
    parse_ramp_state,
)
from experiments.reader import NUMBER, Reader

EXPERIMENT_FIELDS = {
    "key", "description", "status", "layer", "layer_slots", "variants", "coverage", "ranges",
    "targeting", "overrides", "metrics", "dimensions", "conversion_window_hours", "start",
    "end", "salt", "shipped_variant", "phases", "version", "requires_approval",
    "ramp", "ramp_state", "guardrails", "on_breach",
}


def parse_experiment(doc: Any, problems: list[Problem], index: int = 0) -> Experiment | None:
    raw_key = doc.get("key") if isinstance(doc, Mapping) else None
    owner = f"experiment {raw_key!r}" if isinstance(raw_key, str) else f"experiments[{index}]"
    read = Reader(owner, problems)
    doc = read.mapping(doc, "", EXPERIMENT_FIELDS)
    key = read.get(doc, "key", str, "")
    variants = tuple(
        _variant(read, item, f"variants[{i}]")
        for i, item in enumerate(read.get(doc, "variants", list, "") or [])
    )
    coverage = float(read.get(doc, "coverage", NUMBER, "", 100.0))
    ranges = _ranges(read, doc.get("ranges"), variants, coverage)
    experiment = Experiment(
        key=key or "",
        variants=variants,
        status=read.choice(doc, "status", Status, "", Status.DRAFT),
        layer=read.get(doc, "layer", str, "", None),
        layer_slots=read.spans(doc.get("layer_slots", [[0, 9999]]), "layer_slots"),
        coverage=coverage,
        ranges=ranges,
        targeting=doc.get("targeting"),
        overrides=dict(read.get(doc, "overrides", Mapping, "", {}) or {}),
        metrics=tuple(
            _metric(read, item, f"metrics[{i}]")
            for i, item in enumerate(read.get(doc, "metrics", list, "", []) or [])
        ),
        dimensions=tuple(read.get(doc, "dimensions", list, "", []) or []),
        conversion_window_hours=float(read.get(doc, "conversion_window_hours", NUMBER, "", 168)),
        start=read.time(doc, "start", ""),
        end=read.time(doc, "end", ""),
        salt=read.get(doc, "salt", str, "", None),
        shipped_variant=read.get(doc, "shipped_variant", str, "", None),
        phases=_phases(read, doc.get("phases")),
        version=read.get(doc, "version", int, "", 1) or 1,
        description=read.get(doc, "description", str, "", "") or "",
        requires_approval=bool(read.get(doc, "requires_approval", bool, "", False)),
        ramp=parse_ramp(read, doc.get("ramp")),
        ramp_state=parse_ramp_state(read, doc.get("ramp_state")),
        guardrails=parse_guardrails(read, doc.get("guardrails")),
        on_breach=parse_on_breach(read, doc),
    )
    return experiment if key else None


def _variant(read: Reader, doc: Any, path: str) -> Variant:
    doc = read.mapping(doc, path, {"key", "weight", "config"})
    return Variant(
        key=read.get(doc, "key", str, path) or "",
        weight=float(read.get(doc, "weight", NUMBER, path) or 0.0),
        config=read.get(doc, "config", Mapping, path, {}) or {},
    )


def _metric(read: Reader, doc: Any, path: str) -> Metric:
    doc = read.mapping(doc, path, {"key", "kind", "event", "numerator", "denominator"})
    kind = read.choice(doc, "kind", MetricKind, path, MetricKind.CONVERSION)
    parts = {}
    for side in ("numerator", "denominator"):
        part = doc.get(side)
        if part is not None:
            part = read.mapping(part, f"{path}.{side}", {"event", "kind"})
            parts[side] = RatioPart(
                event=read.get(part, "event", str, f"{path}.{side}") or "",
                kind=read.choice(part, "kind", MetricKind, f"{path}.{side}", MetricKind.COUNT),
            )
    return Metric(
        key=read.get(doc, "key", str, path) or "",
        kind=kind,
        event=read.get(doc, "event", str, path, None),
        numerator=parts.get("numerator"),
        denominator=parts.get("denominator"),
    )


def _phases(read: Reader, raw: Any) -> tuple[Phase, ...]:
    if raw is None:
        return (Phase(1),)
    if not isinstance(raw, list) or not raw:
        read.problem("phases", "must be a non-empty list")
        return (Phase(1),)
    return tuple(parse_phase(read, item, f"phases[{i}]") for i, item in enumerate(raw))


def _ranges(
    read: Reader, raw: Any, variants: tuple[Variant, ...], coverage: float
) -> dict[str, tuple[tuple[int, int], ...]]:
    """Explicit ranges if given, else the first allocation of the weights and coverage."""
    if raw is not None:
        doc = read.mapping(raw, "ranges")
        return {str(key): read.spans(spans, f"ranges.{key}") for key, spans in doc.items()}
    weights = {v.key: v.weight for v in variants}
    if not variants or any(w <= 0 for w in weights.values()) or len(weights) != len(variants):
        return {}  # validation reports the weights; nothing sensible to allocate
    if not 0 <= coverage <= 100:
        return {}
    ranges = allocate(weights, coverage).allocation.ranges
    return {key: tuple(tuple(span) for span in spans) for key, spans in ranges.items()}


def parse_config(doc: Any) -> tuple[Config, list[Problem]]:
    """The model of a whole configuration document, and every structural problem in it."""
    problems: list[Problem] = []
    read = Reader("config", problems)
    doc = read.mapping(doc, "", {"experiments", "layers", "holdout", "range_convention"})
    if doc.get("range_convention", RANGE_CONVENTION) != RANGE_CONVENTION:
        read.problem("range_convention",
                     f"ranges and slots include both end points: use {RANGE_CONVENTION!r}")
    experiments = tuple(
        experiment
        for i, item in enumerate(read.get(doc, "experiments", list, "", []) or [])
        if (experiment := parse_experiment(item, problems, i)) is not None
    )
    layers = []
    for i, item in enumerate(read.get(doc, "layers", list, "", []) or []):
        layer_doc = read.mapping(item, f"layers[{i}]", {"key", "description"})
        layers.append(Layer(read.get(layer_doc, "key", str, f"layers[{i}]") or "",
                            read.get(layer_doc, "description", str, f"layers[{i}]", "") or ""))
    holdout = None
    if doc.get("holdout") is not None:
        hold = Reader("holdout", problems)
        hdoc = hold.mapping(doc["holdout"], "", {"percent", "salt"})
        holdout = Holdout(float(hold.get(hdoc, "percent", NUMBER, "") or 0.0),
                          hold.get(hdoc, "salt", str, "", "global") or "global")
    return Config(experiments, tuple(layers), holdout), problems


def current_allocation(experiment: Experiment) -> Allocation:
    return Allocation(experiment.weights, experiment.coverage, experiment.ranges)
