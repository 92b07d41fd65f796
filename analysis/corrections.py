"""Multiple testing across metrics × variants: adjusted p-values and, where defined, intervals.

- Holm (1979), "A simple sequentially rejective multiple test procedure" (Scandinavian Journal
  of Statistics): controls the family-wise error rate. Adjusted p-values
  p̃_(i) = max_{j ≤ i} min(1, (m − j + 1)·p_(j)) over the ascending order.
- Benjamini & Hochberg (1995), "Controlling the false discovery rate: a practical and powerful
  approach to multiple testing" (JRSS B): controls the false discovery rate. Adjusted
  p-values p̃_(i) = min_{j ≥ i} min(1, m·p_(j)/j).

Intervals: Holm's step-down has no simple compatible intervals, so with Holm every comparison
gets the Bonferroni interval at level 1 − α/m, which holds simultaneously for all m (it can
contain 0 for a hypothesis Holm rejects: Holm is the more powerful test). With
Benjamini–Hochberg the R rejected comparisons get the false-coverage-rate intervals of
Benjamini & Yekutieli (2005), "False discovery rate–adjusted multiple confidence intervals for
selected parameters" (JASA), at level 1 − R·α/m; they are defined only for the selected
comparisons, so the others get None.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, get_args

import numpy as np
from numpy.typing import ArrayLike

from analysis.compare import Comparison
from analysis.errors import AnalysisError
from analysis.inference import Interval, check_alpha

Method = Literal["holm", "benjamini-hochberg"]


def _p_values(p_values: ArrayLike) -> np.ndarray:
    values = np.asarray(p_values, dtype=float)
    if values.ndim != 1:
        raise AnalysisError("p-values must be a flat sequence")
    if not np.all((values >= 0.0) & (values <= 1.0)):  # also refuses NaN
        raise AnalysisError("every p-value must be a number in [0, 1]")
    return values


def holm(p_values: ArrayLike) -> np.ndarray:
    """Holm–Bonferroni adjusted p-values, in the input's order."""
    values = _p_values(p_values)
    m = len(values)
    order = np.argsort(values, kind="stable")
    scaled = np.minimum(1.0, (m - np.arange(m)) * values[order])
    adjusted = np.empty(m)
    adjusted[order] = np.maximum.accumulate(scaled)
    return adjusted


def benjamini_hochberg(p_values: ArrayLike) -> np.ndarray:
    """Benjamini–Hochberg adjusted p-values (q-values), in the input's order."""
    values = _p_values(p_values)
    m = len(values)
    order = np.argsort(values, kind="stable")
    scaled = np.minimum(1.0, m * values[order] / np.arange(1, m + 1))
    adjusted = np.empty(m)
    adjusted[order] = np.minimum.accumulate(scaled[::-1])[::-1]
    return adjusted


@dataclass(frozen=True)
class AdjustedComparison:
    """One comparison of a family, with its multiplicity-adjusted p-value and intervals."""

    comparison: Comparison
    method: Method
    p_value: float
    rejected: bool
    diff_ci: Interval | None
    lift_ci: Interval | None


def _family_alpha(comparisons: Sequence[Comparison], alpha: float | None) -> float:
    if alpha is None:
        levels = {c.alpha for c in comparisons}
        if len(levels) > 1:
            raise AnalysisError("comparisons have different alphas; pass alpha explicitly")
        alpha = levels.pop()
    check_alpha(alpha)
    return alpha


def _interval_levels(method: Method, rejected: np.ndarray, alpha: float) -> list[float | None]:
    """The level each comparison's adjusted interval is built at; None where undefined."""
    m = len(rejected)
    if method == "holm":
        return [alpha / m] * m
    selected = int(rejected.sum())
    return [alpha * selected / m if reject else None for reject in rejected]


def adjust(
    comparisons: Sequence[Comparison], method: Method, *, alpha: float | None = None
) -> list[AdjustedComparison]:
    """Adjust a family of comparisons (all metrics × variants of an experiment) together.

    `alpha` defaults to the comparisons' common alpha.
    """
    if method not in get_args(Method):
        raise AnalysisError(f"method must be one of {', '.join(get_args(Method))}; got {method!r}")
    if not comparisons:
        return []
    alpha = _family_alpha(comparisons, alpha)
    raw = [c.p_value for c in comparisons]
    adjusted = holm(raw) if method == "holm" else benjamini_hochberg(raw)
    rejected = adjusted <= alpha
    levels = _interval_levels(method, rejected, alpha)
    return [
        AdjustedComparison(
            comparison=comparison,
            method=method,
            p_value=float(p),
            rejected=bool(reject),
            diff_ci=None if level is None else comparison.diff_ci_at(level),
            lift_ci=None if level is None else comparison.lift_ci_at(level),
        )
        for comparison, p, reject, level in zip(
            comparisons, adjusted, rejected, levels, strict=True
        )
    ]
