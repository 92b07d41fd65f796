"""The ground truth of a simulation, and the comparison of a results store with it.

The truth applies the attribution definition offline to each user's distinct
events: per experiment, variant and metric, n and the sums Σx, Σx², Σy, Σy², Σxy
(and Σd for ratio metrics) that the results store must end up with.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from experiments.attribution import DAY_MS
from experiments.model import Experiment, MetricKind

if TYPE_CHECKING:
    from experiments.simulation import SimulationSpec

SUMS = ("n", "sum_x", "sum_x2", "sum_y", "sum_y2", "sum_xy", "sum_d")


def compare(truth: Mapping[str, Any],
            totals: Mapping[tuple[str, str, str], Mapping[str, float]],
            rel_tol: float = 1e-9) -> list[dict[str, Any]]:
    """Row by row: the truth's sums against `totals` ((experiment, variant, metric) → sums).

    Counts must match exactly; sums of values within `rel_tol` (floating-point
    addition in another order). Every row carries `ok`.
    """
    rows = []
    for experiment, part in truth["experiments"].items():
        for variant, figures in part["variants"].items():
            for metric, expected in figures["metrics"].items():
                found = totals.get((experiment, variant, metric), {})
                bad = [name for name in SUMS
                       if not _same(expected[name], found.get(name), exact=name == "n",
                                    rel_tol=rel_tol)]
                rows.append({"experiment": experiment, "variant": variant, "metric": metric,
                             "expected": expected, "found": dict(found), "mismatched": bad,
                             "ok": not bad})
    return rows


def _same(expected: float, found: float | None, exact: bool, rel_tol: float) -> bool:
    if found is None:
        return expected == 0
    if exact:
        return expected == found
    return math.isclose(expected, found, rel_tol=rel_tol, abs_tol=1e-6)


def effect_of(effects: Mapping[tuple[str, str, str], float], experiment: str, variant: str,
            event: str) -> float:
    """The true lift of `event` for a variant: its own, or the variant's "*" effect."""
    return effects.get((experiment, variant, event), effects.get((experiment, variant, "*"), 0.0))


def metric_events(experiment: Experiment) -> Iterable[str]:
    """The event names the experiment's metrics read (both parts of a ratio)."""
    for metric in experiment.metrics:
        if metric.kind is MetricKind.RATIO and metric.numerator and metric.denominator:
            yield metric.numerator.event
            yield metric.denominator.event
        elif metric.event:
            yield metric.event


class GroundTruth:
    """Sums per experiment, variant and metric, from each user's distinct events."""

    def __init__(self, experiments: list[Experiment], spec: SimulationSpec) -> None:
        self.experiments = {e.key: e for e in experiments}
        self.spec = spec
        self.sums: dict[tuple[str, str, str], dict[str, float]] = {}
        self.exposed: dict[tuple[str, str], int] = {}
        self.phases: dict[str, int] = {}

    def add_user(self, exposures: list[dict[str, Any]], goals: list[dict[str, Any]]) -> None:
        first: dict[str, dict[str, Any]] = {}
        for exposure in exposures:
            current = first.get(exposure["experiment"])
            if current is None or exposure["timestamp"] < current["timestamp"]:
                first[exposure["experiment"]] = exposure
        for key, exposure in first.items():
            experiment = self.experiments[key]
            self.phases[key] = exposure["phase"]
            variant, start = exposure["variant"], exposure["timestamp"]
            self.exposed[key, variant] = self.exposed.get((key, variant), 0) + 1
            window_end = start + int(experiment.conversion_window_hours * 3_600_000)
            start_day = start // DAY_MS
            during = [g for g in goals
                      if start - self.spec.clock_skew_allowance_ms <= g["timestamp"] <= window_end]
            before = [g for g in goals if start_day - self.spec.lookback_days
                      <= g["timestamp"] // DAY_MS < start_day]
            for metric in experiment.metrics:
                x, y, d = _metric_value(metric, during), _metric_value(metric, before), 0.0
                if metric.kind is MetricKind.RATIO:
                    d = _metric_value(metric, during, denominator=True)
                sums = self.sums.setdefault((key, variant, metric.key), dict.fromkeys(SUMS, 0.0))
                for name, value in (("n", 1), ("sum_x", x), ("sum_x2", x * x), ("sum_y", y),
                                    ("sum_y2", y * y), ("sum_xy", x * y), ("sum_d", d)):
                    sums[name] += value

    def document(self) -> dict[str, Any]:
        spec = self.spec
        experiments: dict[str, Any] = {}
        for key, experiment in self.experiments.items():
            variants = {}
            for variant in experiment.variants:
                metrics = {m.key: self.sums.get((key, variant.key, m.key), dict.fromkeys(SUMS, 0.0))
                           for m in experiment.metrics}
                lifts = {event: effect_of(spec.effects, key, variant.key, event)
                         for event in sorted(set(metric_events(experiment)))}
                variants[variant.key] = {"exposed_users": self.exposed.get((key, variant.key), 0),
                                         "true_lift": lifts, "metrics": metrics}
            experiments[key] = {"phase": self.phases.get(key, experiment.phase),
                                "control": experiment.control, "variants": variants}
        return {"users": spec.users, "seed": spec.seed, "now_ms": spec.now_ms,
                "rates": {"exposure": spec.exposure_rate, "repeat_exposure":
                          spec.repeat_exposure_rate, "duplicate": spec.duplicate_rate,
                          "out_of_order": spec.out_of_order_rate,
                          "clock_skew": spec.clock_skew_rate},
                "experiments": experiments}


def _metric_value(metric: Any, goals: list[dict[str, Any]], denominator: bool = False) -> float:
    if metric.kind is MetricKind.RATIO:
        part = metric.denominator if denominator else metric.numerator
        kind, event = part.kind, part.event
    else:
        kind, event = metric.kind, metric.event
    matching = [g for g in goals if g["name"] == event]
    if kind is MetricKind.CONVERSION:
        return 1.0 if matching else 0.0
    if kind is MetricKind.COUNT:
        return float(len(matching))
    return float(sum(g["value"] or 0.0 for g in matching))
