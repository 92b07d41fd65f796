"""Guardrails: non-inferiority tests ("is metric M worse than −X %?").

For a metric where higher is better the hypotheses are H0: effect ≤ −margin against
H1: effect > −margin, tested with the comparison's own machinery: Welch's t for an absolute
margin on the difference; for a relative margin the test of m_t = (1 − margin)·m_c on the
same t, whose inversion is the lift's Fieller interval (`analysis.lift`). The metric
passes when the one-sided (1 − α) confidence bound on the harmful side stays within the
margin, which is the same decision as p < α (the confidence-interval approach to
non-inferiority; Schuirmann 1987, "A comparison of the two one-sided tests procedure and the
power approach for assessing the equivalence of average bioavailability"). For a metric where
lower is better (latency, errors) the signs flip.

The always-valid bound uses the normal-mixture boundary of `analysis.sequential`, so a
guardrail watched continuously can be trusted whenever it is read. Its other end is
the harm test: when even the always-valid bound on the favourable side lies beyond the
margin (`harmful_always_valid`), the treatment is worse than the margin allows, at any
time it is read: the rule for an automatic rollback.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analysis.compare import Comparison
from analysis.errors import AnalysisError
from analysis.inference import Interval, check_alpha, critical_value, p_value, ratio_statistic
from analysis.lift import fieller_interval, ratio_statistic_at
from analysis.sequential import always_valid_multiplier


@dataclass(frozen=True)
class NonInferiority:
    """The verdict on one guardrail metric; `estimate` and `bound` are a lift or a difference."""

    margin: float
    relative: bool
    higher_is_better: bool
    alpha: float
    estimate: float
    p_value: float
    bound: float
    non_inferior: bool
    bound_always_valid: float
    non_inferior_always_valid: bool
    harm_bound_always_valid: float  # the always-valid bound on the favourable side
    harmful_always_valid: bool  # that bound is beyond the margin: harm shown


def non_inferiority(
    comparison: Comparison,
    margin: float,
    *,
    relative: bool = True,
    higher_is_better: bool = True,
    alpha: float | None = None,
) -> NonInferiority:
    """Is the treatment no worse than the control by more than `margin` (0.02 = 2 % if relative)?

    `alpha` is the one-sided level and defaults to the comparison's.
    """
    alpha = comparison.alpha if alpha is None else alpha
    check_alpha(alpha)
    if not (math.isfinite(margin) and margin > 0.0):
        raise AnalysisError(f"margin must be a positive number, got {margin!r}")
    if relative:
        return _relative_margin(comparison, margin, higher_is_better, alpha)
    estimate, std_error, df = comparison.diff, comparison.std_error, comparison.df
    # Oriented so that larger is better, H0 reads: sign·effect ≤ −margin.
    sign = 1.0 if higher_is_better else -1.0
    statistic = ratio_statistic(sign * estimate + margin, std_error)
    fixed = critical_value(alpha, df, "greater") * std_error
    n_total = comparison.control_n + comparison.treatment_n
    anytime = always_valid_multiplier(n_total, alpha, comparison.tuning_n) * std_error
    return NonInferiority(
        margin=margin,
        relative=relative,
        higher_is_better=higher_is_better,
        alpha=alpha,
        estimate=estimate,
        p_value=p_value(statistic, df, "greater"),
        bound=estimate - sign * fixed,
        non_inferior=sign * estimate - fixed > -margin,
        bound_always_valid=estimate - sign * anytime,
        non_inferior_always_valid=sign * estimate - anytime > -margin,
        harm_bound_always_valid=estimate + sign * anytime,
        harmful_always_valid=sign * estimate + anytime < -margin,
    )


def _relative_margin(comparison: Comparison, margin: float, higher_is_better: bool,
                     alpha: float) -> NonInferiority:
    """H0: m_t ≤ (1 − margin)·m_c (or ≥ (1 + margin)·m_c when lower is better)."""
    moments, lift = comparison.moments, comparison.lift
    if moments is None or lift is None:
        raise AnalysisError(f"a relative margin needs a lift: {comparison.lift_undefined}")
    sign = 1.0 if higher_is_better else -1.0
    statistic = sign * ratio_statistic_at(moments, 1.0 - sign * margin)
    side = "greater" if higher_is_better else "less"
    n_total = comparison.control_n + comparison.treatment_n
    bounds = [_bound(fieller_interval(moments, critical, side), sign)  # type: ignore[arg-type]
              for critical in (critical_value(alpha, comparison.df, "greater"),
                               float(always_valid_multiplier(n_total, alpha,
                                                             comparison.tuning_n)))]
    anytime = float(always_valid_multiplier(n_total, alpha, comparison.tuning_n))
    opposite = "less" if higher_is_better else "greater"
    harm = _bound(fieller_interval(moments, anytime, opposite), -sign)  # type: ignore[arg-type]
    return NonInferiority(
        margin=margin, relative=True, higher_is_better=higher_is_better, alpha=alpha,
        estimate=lift, p_value=p_value(statistic, comparison.df, "greater"),
        bound=bounds[0], non_inferior=sign * bounds[0] > -margin,
        bound_always_valid=bounds[1], non_inferior_always_valid=sign * bounds[1] > -margin,
        harm_bound_always_valid=harm, harmful_always_valid=sign * harm < -margin,
    )


def _bound(interval: Interval | None, sign: float) -> float:
    """The interval's end on the harmful side (an unbounded one reaches infinity)."""
    if interval is None:
        return -sign * math.inf
    return interval.lower if sign > 0 else interval.upper
