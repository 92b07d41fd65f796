"""Relative lift, treatment mean / control mean − 1: its standard error and its interval.

The standard error is the delta method's on the two means with their full covariance
(CUPED-adjusted means share the covariate's difference, so they are correlated):

    Var(m_t/m_c) ≈ (v_t − 2g·c + g²·v_c) / m_c²,   g = m_t/m_c.

The interval is Fieller's (Fieller 1954, "Some problems in interval estimation"): the lifts
r − 1 for which the test of "m_t = r·m_c", with statistic (m_t − r·m_c)/√(v_t + r²v_c − 2rc),
does not reject, with the same reference distribution (Student's t on the difference's Welch
degrees of freedom) as the p-value. At r = 1 that statistic is the difference's, so the lift
interval excludes 0 exactly when the p-value is below alpha: one verdict per metric. When the
control mean is not itself distinguishable from 0 at the level, the set is unbounded and the
interval is reported as undefined.

A lift is undefined when the control mean is 0 or negative: the ratio then has no meaning as
a relative change. `undefined` gives the reason.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analysis.inference import Alternative, Interval, ratio_statistic

UNBOUNDED = "the control mean is not distinguishable from 0: the lift's interval is unbounded"


@dataclass(frozen=True)
class MeanMoments:
    """The control and treatment means with their sampling variances and covariance."""

    control: float
    treatment: float
    var_control: float
    var_treatment: float
    covariance: float = 0.0

    def variance_at(self, ratio: float) -> float:
        """Var(m_t − ratio·m_c)."""
        value = self.var_treatment + ratio * ratio * self.var_control
        return max(value - 2.0 * ratio * self.covariance, 0.0)


def undefined(moments: MeanMoments) -> str | None:
    """Why the lift is undefined, or None."""
    if moments.control == 0.0:
        return "the control mean is 0"
    if moments.control < 0.0:
        return "the control mean is negative"
    return None


def lift_std_error(moments: MeanMoments) -> float:
    """The delta method's standard error of m_t/m_c − 1 (control mean > 0)."""
    return math.sqrt(moments.variance_at(moments.treatment / moments.control)) / moments.control


def _roots(moments: MeanMoments, critical: float) -> tuple[float, float] | None:
    """The ratios r where |m_t − r·m_c| = critical·√Var(m_t − r·m_c); None if unbounded."""
    q2 = critical * critical
    a = moments.control**2 - q2 * moments.var_control
    if not a > 0.0:
        return None
    b = moments.treatment * moments.control - q2 * moments.covariance
    c = moments.treatment**2 - q2 * moments.var_treatment
    s = b + math.copysign(math.sqrt(max(b * b - a * c, 0.0)), b)
    if s == 0.0:
        return 0.0, 0.0
    low, high = sorted((s / a, c / s))  # the product of the roots is c/a: no cancellation
    return low, high


def fieller_interval(
    moments: MeanMoments, critical: float, alternative: Alternative
) -> Interval | None:
    """The lift interval inverting the test of m_t = r·m_c at `critical`; None if unbounded."""
    if math.isinf(critical):
        return None
    roots = _roots(moments, critical)
    if roots is None:
        return None
    lower = -math.inf if alternative == "less" else roots[0] - 1.0
    upper = math.inf if alternative == "greater" else roots[1] - 1.0
    return Interval(lower, upper)


def ratio_statistic_at(moments: MeanMoments, ratio: float) -> float:
    """(m_t − ratio·m_c)/√Var(m_t − ratio·m_c): the test of "lift = ratio − 1"."""
    estimate = moments.treatment - ratio * moments.control
    return ratio_statistic(estimate, math.sqrt(moments.variance_at(ratio)))
