"""An experiment's results from its per-variant totals: pure, JSON-ready, no I/O.

`experiment_report` takes the totals of one phase (overall, or per slice of a
dimension) and the distinct exposed users per slice and variant, and returns, per
slice: exposures and SRM (`analysis.srm_check`, the monitor's rule and count),
and per metric and treatment variant the
comparison against control — rate or mean, absolute and relative effect with
intervals, p-value, CUPED-adjusted figures when the metric has a covariate,
always-valid interval and p-value — with Holm's correction across the family of
metrics × variants of the slice. An undefined lift is None with its reason in
`lift_undefined`; a comparison that cannot be computed has an `error` instead.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

from analysis.compare import Comparison, compare, compare_ratio
from analysis.corrections import adjust
from analysis.cuped import cuped_compare
from analysis.errors import AnalysisError
from analysis.inference import Interval
from analysis.srm_check import check_srm
from analysis.stats import RatioStats, SampleStats


class Totals(Protocol):
    """One (variant, metric, slice) of per-variant totals: sums of values shifted by the
    references shift_x, shift_y, shift_d (see sinks.totals)."""

    variant: str
    metric: str
    slice: str
    n: int
    shifted_x: float
    shifted_x2: float
    shifted_y: float
    shifted_y2: float
    shifted_xy: float
    shifted_d: float
    shifted_d2: float
    shifted_xd: float
    shift_x: float
    shift_y: float
    shift_d: float


def experiment_report(
    variants: Sequence[str],
    weights: Mapping[str, float],
    metrics: Mapping[str, str],  # metric key → kind ("conversion", "count", "sum", "ratio")
    totals: Sequence[Totals],
    exposed: Mapping[str, Mapping[str, int]],  # slice → variant → distinct exposed users
    *,
    alpha: float = 0.05,
    cuped: bool = True,
) -> list[dict[str, Any]]:
    """One entry per slice ("" overall), in the order of the slices' values; `cuped`
    False leaves every comparison unadjusted, covariates or not."""
    slices: dict[str, list[Totals]] = {name: [] for name in exposed}
    for row in totals:
        slices.setdefault(row.slice, []).append(row)
    return [_slice_report(name, variants, weights, metrics, rows, exposed.get(name, {}),
                          alpha, cuped)
            for name, rows in sorted(slices.items())]


def _slice_report(name: str, variants: Sequence[str], weights: Mapping[str, float],
                  metrics: Mapping[str, str], rows: list[Totals], exposed: Mapping[str, int],
                  alpha: float, cuped: bool) -> dict[str, Any]:
    by_key = {(row.variant, row.metric): row for row in rows}
    exposures = {v: int(exposed.get(v, 0)) for v in variants}
    control = variants[0]
    entries, comparisons = [], []
    for metric, kind in metrics.items():
        for variant in variants[1:]:
            base, treated = by_key.get((control, metric)), by_key.get((variant, metric))
            entry: dict[str, Any] = {"metric": metric, "kind": kind, "variant": variant,
                                     "control_n": base.n if base else 0,
                                     "treatment_n": treated.n if treated else 0}
            try:
                if base is None or treated is None:
                    raise AnalysisError("no users in one of the arms yet")
                comparison = compare_totals(kind, base, treated, alpha, cuped)
            except AnalysisError as exc:
                entry["error"] = str(exc)
            else:
                entry.update(_comparison(comparison))
                comparisons.append((entry, comparison))
            entries.append(entry)
    if comparisons:
        for (entry, _), adjusted in zip(comparisons, adjust([c for _, c in comparisons],
                                                             "holm", alpha=alpha), strict=True):
            entry["p_value_holm"] = adjusted.p_value
            entry["significant"] = adjusted.rejected
    return {"slice": name, "exposures": exposures, "srm": _srm(exposures, weights),
            "comparisons": entries,
            # How many metric × treatment comparisons moved, after Holm's correction.
            "significant_comparisons": sum(bool(e.get("significant")) for e in entries)}


def compare_totals(kind: str, control: Totals, treatment: Totals, alpha: float,
                   cuped: bool) -> Comparison:
    if kind == "ratio":
        return compare_ratio(_ratio(control), _ratio(treatment), alpha=alpha)
    base, treated = _sample(control), _sample(treatment)
    if cuped and base.has_covariate and treated.has_covariate:
        return cuped_compare(base, treated, alpha=alpha)
    return compare(base, treated, alpha=alpha)


def _sample(row: Totals) -> SampleStats:
    return SampleStats(row.n, row.shifted_x, row.shifted_x2, row.shifted_y, row.shifted_y2,
                       row.shifted_xy, row.shift_x, row.shift_y)


def _ratio(row: Totals) -> RatioStats:
    return RatioStats(row.n, row.shifted_x, row.shifted_x2, row.shifted_d, row.shifted_d2,
                      row.shifted_xd, row.shift_x, row.shift_d)


def _comparison(c: Comparison) -> dict[str, Any]:
    result = {
        "control_mean": c.control_mean, "treatment_mean": c.treatment_mean,
        "diff": c.diff, "std_error": c.std_error, "diff_ci": _interval(c.diff_ci),
        "lift": c.lift,
        "lift_ci": _interval(c.lift_ci), "lift_undefined": c.lift_undefined,
        "p_value": c.p_value,
        "diff_ci_always_valid": _interval(c.diff_ci_always_valid),
        "p_value_always_valid": c.p_value_always_valid,
        "lift_ci_always_valid": _interval(c.lift_ci_always_valid),
    }
    if c.cuped is not None:
        result["cuped"] = {"theta": c.cuped.theta,
                           "variance_reduction": c.cuped.variance_reduction,
                           "unadjusted_diff": c.cuped.unadjusted.diff,
                           "unadjusted_p_value": c.cuped.unadjusted.p_value}
    return result


def _interval(interval: Interval | None) -> list[float | None] | None:
    if interval is None:
        return None
    return [_finite(interval.lower), _finite(interval.upper)]


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None  # JSON has no infinity


def _srm(exposures: Mapping[str, int], weights: Mapping[str, float]) -> dict[str, Any]:
    """The SRM monitor's verdict (`analysis.srm_check`) on the slice's exposed users."""
    verdict = check_srm(exposures, weights)
    if verdict.chi_square is None or verdict.sequential is None:
        return {"status": "no data"}
    total, weight_sum = sum(exposures.values()), sum(weights.values())
    return {"status": "mismatch" if verdict.mismatch else "ok",
            "expected": {v: total * weights.get(v, 0.0) / weight_sum for v in exposures},
            "p_value": verdict.chi_square.p_value,
            "p_value_sequential": verdict.sequential.p_value,
            "largest_relative_deviation": verdict.largest_deviation}
