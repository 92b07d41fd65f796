"""Documents (parsed YAML or JSON) to the frozen model, collecting every problem.

The way back, model to document, is `experiments.documents` (re-exported here).
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from datetime import datetime
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

_MISSING = object()
_NUMBER = (int, float)
_LARGEST = sys.float_info.max  # an int beyond it has no float: "finite" cannot hold


class _Reader:
    """Reads typed fields of one owner's document, recording problems instead of raising."""

    def __init__(self, owner: str, problems: list[Problem]) -> None:
        self.owner = owner
        self.problems = problems

    def problem(self, path: str, reason: str) -> None:
        self.problems.append(Problem(self.owner, path, reason))

    def mapping(self, value: Any, path: str, allowed: set[str] | None = None) -> Mapping:
        if not isinstance(value, Mapping):
            self.problem(path, f"must be a mapping, got {_type(value)}")
            return {}
        if allowed is not None:
            for key in sorted(set(value) - allowed, key=str):
                self.problem(f"{path}.{key}" if path else str(key), "unknown field")
        return value

    def get(self, doc: Mapping, name: str, kinds: Any, path: str, default: Any = _MISSING) -> Any:
        value = doc.get(name, default)
        where = f"{path}.{name}" if path else name
        if value is _MISSING:
            self.problem(where, "is required")
            return None
        if value is None and default is None:
            return None
        if isinstance(value, bool) and bool not in _as_tuple(kinds):
            value = _BAD
        if value is _BAD or not isinstance(value, kinds):
            self.problem(where, f"must be {_describe(kinds)}, got {_type(doc.get(name))}")
            return None if default is _MISSING else default
        if isinstance(value, float) and not math.isfinite(value):  # JSON reads 1e400 as inf
            self.problem(where, f"must be a finite number, not {value}")
            return None if default is _MISSING else default
        if isinstance(value, int) and float in _as_tuple(kinds) and abs(value) > _LARGEST:
            self.problem(where, "must be a finite number, not one this large")
            return None if default is _MISSING else default
        return value

    def choice(self, doc: Mapping, name: str, enum: Any, path: str, default: Any) -> Any:
        raw = self.get(doc, name, str, path, default.value if default is not None else _MISSING)
        try:
            return enum(raw) if raw is not None else default
        except ValueError:
            options = ", ".join(member.value for member in enum)
            self.problem(f"{path}.{name}" if path else name, f"{raw!r} is not one of {options}")
            return default

    def time(self, doc: Mapping, name: str, path: str) -> datetime | None:
        raw = doc.get(name)
        if raw is None or isinstance(raw, datetime):  # YAML parses timestamps itself
            return raw
        try:
            return datetime.fromisoformat(str(raw))
        except ValueError:
            self.problem(f"{path}.{name}" if path else name, f"not an ISO 8601 time: {raw!r}")
            return None

    def spans(self, value: Any, path: str) -> tuple[tuple[int, int], ...]:
        if not isinstance(value, list):
            self.problem(path, "must be a list of [first, last] bucket pairs")
            return ()
        spans = []
        for i, span in enumerate(value):
            ok = isinstance(span, list | tuple) and len(span) == 2 and all(
                isinstance(b, int) and not isinstance(b, bool) for b in span
            )
            if not ok:
                self.problem(f"{path}[{i}]", "must be a [first, last] pair of integers")
                continue
            spans.append((span[0], span[1]))
        return tuple(spans)


_BAD = object()


def _as_tuple(kinds: Any) -> tuple:
    return kinds if isinstance(kinds, tuple) else (kinds,)


def _describe(kinds: Any) -> str:
    names = {str: "a string", int: "an integer", float: "a number", bool: "true or false",
             list: "a list", dict: "a mapping", Mapping: "a mapping"}
    return " or ".join(dict.fromkeys(names.get(kind, kind.__name__) for kind in _as_tuple(kinds)))


def _type(value: Any) -> str:
    return "nothing" if value is None else type(value).__name__


EXPERIMENT_FIELDS = {
    "key", "description", "status", "layer", "layer_slots", "variants", "coverage", "ranges",
    "targeting", "overrides", "metrics", "dimensions", "conversion_window_hours", "start",
    "end", "salt", "shipped_variant", "phases", "version", "requires_approval",
}


def parse_experiment(doc: Any, problems: list[Problem], index: int = 0) -> Experiment | None:
    raw_key = doc.get("key") if isinstance(doc, Mapping) else None
    owner = f"experiment {raw_key!r}" if isinstance(raw_key, str) else f"experiments[{index}]"
    read = _Reader(owner, problems)
    doc = read.mapping(doc, "", EXPERIMENT_FIELDS)
    key = read.get(doc, "key", str, "")
    variants = tuple(
        _variant(read, item, f"variants[{i}]")
        for i, item in enumerate(read.get(doc, "variants", list, "") or [])
    )
    coverage = float(read.get(doc, "coverage", _NUMBER, "", 100.0))
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
        conversion_window_hours=float(read.get(doc, "conversion_window_hours", _NUMBER, "", 168)),
        start=read.time(doc, "start", ""),
        end=read.time(doc, "end", ""),
        salt=read.get(doc, "salt", str, "", None),
        shipped_variant=read.get(doc, "shipped_variant", str, "", None),
        phases=_phases(read, doc.get("phases")),
        version=read.get(doc, "version", int, "", 1) or 1,
        description=read.get(doc, "description", str, "", "") or "",
        requires_approval=bool(read.get(doc, "requires_approval", bool, "", False)),
    )
    return experiment if key else None


def _variant(read: _Reader, doc: Any, path: str) -> Variant:
    doc = read.mapping(doc, path, {"key", "weight", "config"})
    return Variant(
        key=read.get(doc, "key", str, path) or "",
        weight=float(read.get(doc, "weight", _NUMBER, path) or 0.0),
        config=read.get(doc, "config", Mapping, path, {}) or {},
    )


def _metric(read: _Reader, doc: Any, path: str) -> Metric:
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


def _phases(read: _Reader, raw: Any) -> tuple[Phase, ...]:
    if raw is None:
        return (Phase(1),)
    if not isinstance(raw, list) or not raw:
        read.problem("phases", "must be a non-empty list")
        return (Phase(1),)
    phases = []
    for i, item in enumerate(raw):
        doc = read.mapping(item, f"phases[{i}]", {"number", "started_at"})
        number = read.get(doc, "number", int, f"phases[{i}]")
        phases.append(Phase(1 if number is None else number,  # validation checks its range
                            read.time(doc, "started_at", f"phases[{i}]")))
    return tuple(phases)


def _ranges(
    read: _Reader, raw: Any, variants: tuple[Variant, ...], coverage: float
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
    read = _Reader("config", problems)
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
        hold = _Reader("holdout", problems)
        hdoc = hold.mapping(doc["holdout"], "", {"percent", "salt"})
        holdout = Holdout(float(hold.get(hdoc, "percent", _NUMBER, "") or 0.0),
                          hold.get(hdoc, "salt", str, "", "global") or "global")
    return Config(experiments, tuple(layers), holdout), problems


def current_allocation(experiment: Experiment) -> Allocation:
    return Allocation(experiment.weights, experiment.coverage, experiment.ranges)
