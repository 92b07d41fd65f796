"""Treatment versus control: absolute difference, relative lift, p-values, both kinds of interval.

- Absolute difference: Welch's t test and interval, with degrees of freedom by the
  Welch–Satterthwaite equation (Welch 1947, "The generalization of 'Student's' problem when
  several different population variances are involved"; Satterthwaite 1946).
- Relative lift (treatment/control − 1): the delta method's standard error and Fieller's
  interval, on the same Student t as the p-value (`analysis.lift`), so the lift interval
  excludes 0 exactly when p < alpha.
- Ratio metrics (Σnum/Σden per arm): each arm's ratio with its delta-method variance, which
  includes the numerator–denominator covariance (Deng, Knoblich & Lu 2018, "Applying the
  Delta Method in Metric Analytics"), then the same Welch and lift machinery.
- Every result also carries the always-valid interval and p-value of `analysis.sequential`.

Degenerate inputs have defined results: with zero variance in both arms the standard error is
0, intervals have zero width, the statistic is 0 when the means are equal (p = 1 two-sided,
0.5 one-sided) and ±inf otherwise (p = 0 or 1), and the degrees of freedom fall back to
n_c + n_t − 2. A control mean of 0 leaves the relative lift undefined: its fields are None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from analysis.errors import AnalysisError
from analysis.inference import (
    Alternative,
    Interval,
    check_alpha,
    check_alternative,
    critical_value,
    interval,
    p_value,
    ratio_statistic,
)
from analysis.lift import UNBOUNDED, MeanMoments, fieller_interval, lift_std_error, undefined
from analysis.sequential import DEFAULT_TUNING_N, always_valid_multiplier, always_valid_p_value
from analysis.stats import RatioStats, SampleStats


@dataclass(frozen=True)
class ArmEstimate:
    """One arm reduced to what a comparison needs: a mean, a per-user variance and n."""

    mean: float
    variance: float
    n: int

    @property
    def mean_variance(self) -> float:
        """Variance of the mean."""
        return self.variance / self.n


@dataclass(frozen=True)
class CupedAdjustment:
    """How CUPED changed a comparison; `unadjusted` is the same comparison without it."""

    theta: float
    variance_reduction: float
    unadjusted: Comparison


@dataclass(frozen=True)
class Comparison:
    """Treatment against control for one metric. Effects are treatment minus control."""

    control_mean: float
    treatment_mean: float
    control_n: int
    treatment_n: int
    alpha: float
    alternative: Alternative
    tuning_n: float
    diff: float
    std_error: float
    df: float
    statistic: float
    p_value: float
    diff_ci: Interval
    lift: float | None
    lift_std_error: float | None
    lift_ci: Interval | None
    always_valid_multiplier: float
    p_value_always_valid: float
    diff_ci_always_valid: Interval
    lift_ci_always_valid: Interval | None
    cuped: CupedAdjustment | None = None
    lift_undefined: str | None = None  # why the lift, or its interval, is None
    moments: MeanMoments | None = None  # what the lift's intervals are computed from

    def diff_ci_at(self, alpha: float) -> Interval:
        """The fixed-horizon interval on the difference at another level (e.g. Bonferroni)."""
        check_alpha(alpha)
        critical = critical_value(alpha, self.df, self.alternative)
        return interval(self.diff, self.std_error, critical, self.alternative)

    def lift_ci_at(self, alpha: float) -> Interval | None:
        """The fixed-horizon interval on the relative lift at another level; None if undefined."""
        check_alpha(alpha)
        if self.lift is None or self.moments is None:
            return None
        critical = critical_value(alpha, self.df, self.alternative)
        return fieller_interval(self.moments, critical, self.alternative)


def welch_df(control: ArmEstimate, treatment: ArmEstimate) -> float:
    """Welch–Satterthwaite degrees of freedom (pooled n_c + n_t − 2 if both variances are 0)."""
    v_c, v_t = control.mean_variance, treatment.mean_variance
    denominator = v_c * v_c / (control.n - 1) + v_t * v_t / (treatment.n - 1)
    if denominator == 0.0:
        return float(control.n + treatment.n - 2)
    return (v_c + v_t) ** 2 / denominator


@dataclass(frozen=True)
class _Lift:
    value: float | None = None
    std_error: float | None = None
    ci: Interval | None = None
    ci_always_valid: Interval | None = None
    undefined: str | None = None


def _relative(
    moments: MeanMoments, critical: float, multiplier: float, alternative: Alternative
) -> _Lift:
    """The lift, its standard error, and its fixed and always-valid Fieller intervals."""
    reason = undefined(moments)
    if reason is not None:
        return _Lift(undefined=reason)
    ci = fieller_interval(moments, critical, alternative)
    ci_always_valid = fieller_interval(moments, multiplier, alternative)
    return _Lift(moments.treatment / moments.control - 1.0, lift_std_error(moments), ci,
                 ci_always_valid, None if ci is not None else UNBOUNDED)


def check_arms(control_n: int, treatment_n: int) -> None:
    for name, n in (("control", control_n), ("treatment", treatment_n)):
        if n == 0:
            raise AnalysisError(f"the {name} variant is empty (n = 0)")
        if n < 2:
            raise AnalysisError(f"the {name} variant has n = {n}; a variance needs at least 2")


def compare_estimates(
    control: ArmEstimate,
    treatment: ArmEstimate,
    *,
    alpha: float,
    alternative: Alternative,
    tuning_n: float,
    cuped: CupedAdjustment | None = None,
    moments: MeanMoments | None = None,
    lift_undefined: str | None = None,
) -> Comparison:
    """The comparison of two arms already reduced to mean, per-user variance and n.

    `moments` are the two means' (co)variances for the lift when they are not the arms'
    own independent ones (CUPED); `lift_undefined` leaves the lift undefined for that reason.
    """
    check_alpha(alpha)
    check_alternative(alternative)
    check_arms(control.n, treatment.n)
    diff = treatment.mean - control.mean
    std_error = math.sqrt(control.mean_variance + treatment.mean_variance)
    df = welch_df(control, treatment)
    statistic = ratio_statistic(diff, std_error)
    n_total = control.n + treatment.n
    multiplier = float(always_valid_multiplier(n_total, alpha, tuning_n))
    critical = critical_value(alpha, df, alternative)
    if moments is None:
        moments = MeanMoments(control.mean, treatment.mean, control.mean_variance,
                              treatment.mean_variance)
    lift = _Lift(undefined=lift_undefined) if lift_undefined else _relative(
        moments, critical, multiplier, alternative)
    return Comparison(
        control_mean=control.mean,
        treatment_mean=treatment.mean,
        control_n=control.n,
        treatment_n=treatment.n,
        alpha=alpha,
        alternative=alternative,
        tuning_n=tuning_n,
        diff=diff,
        std_error=std_error,
        df=df,
        statistic=statistic,
        p_value=p_value(statistic, df, alternative),
        diff_ci=interval(diff, std_error, critical, alternative),
        lift=lift.value,
        lift_std_error=lift.std_error,
        lift_ci=lift.ci,
        always_valid_multiplier=multiplier,
        p_value_always_valid=always_valid_p_value(statistic, n_total, alpha, alternative, tuning_n),
        diff_ci_always_valid=interval(diff, std_error, multiplier, alternative),
        lift_ci_always_valid=lift.ci_always_valid,
        cuped=cuped,
        lift_undefined=lift.undefined,
        moments=None if lift.value is None else moments,
    )


def compare(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    tuning_n: float = DEFAULT_TUNING_N,
) -> Comparison:
    """Compare the per-user means of a metric (conversions are the 0/1 case).

    `tuning_n` tunes the always-valid interval (see `analysis.sequential`).
    """
    check_arms(control.n, treatment.n)
    return compare_estimates(
        ArmEstimate(control.mean, control.variance, control.n),
        ArmEstimate(treatment.mean, treatment.variance, treatment.n),
        alpha=alpha,
        alternative=alternative,
        tuning_n=tuning_n,
    )


def compare_ratio(
    control: RatioStats,
    treatment: RatioStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    tuning_n: float = DEFAULT_TUNING_N,
) -> Comparison:
    """Compare a ratio metric Σnum/Σden between arms; users are the randomisation unit.

    The means in the result are the arms' ratios; their variances come from the delta method.
    """
    check_arms(control.n, treatment.n)
    mixed = (control.mean_den > 0.0) != (treatment.mean_den > 0.0)
    return compare_estimates(
        ArmEstimate(control.ratio, control.linearized_variance, control.n),
        ArmEstimate(treatment.ratio, treatment.linearized_variance, treatment.n),
        alpha=alpha,
        alternative=alternative,
        tuning_n=tuning_n,
        lift_undefined="the ratio's denominators have opposite signs in the two arms"
        if mixed else None,
    )
