"""CUPED: variance reduction with a pre-period covariate.

Deng, Xu, Kohavi & Walker (2013), "Improving the Sensitivity of Online Controlled Experiments
by Utilizing Pre-Experiment Data" (WSDM). Each user's metric x is replaced by
x − θ·(y − ȳ), where y is the same user's pre-period covariate and ȳ its mean over both arms:

    θ = Σ_arms Σ(x − x̄)(y − ȳ_arm) / Σ_arms Σ(y − ȳ_arm)²      (pooled within-arm slope)
    adjusted mean  = x̄ − θ·(ȳ_arm − ȳ)
    per-user variance = var_x − 2θ·cov(x, y) + θ²·var_y           (per arm; / n for the mean)

Pooling within arms keeps any treatment effect on x out of θ; the adjusted difference then
equals the treatment coefficient of the regression x ~ 1 + treatment + y. The variance
reduction reported is 1 − Var(adjusted difference) / Var(unadjusted difference); for equal
arms it is the squared pooled within-arm correlation of x and y, the ρ² of Deng et al.
A covariate without variance gives θ = 0: no adjustment, no reduction. The estimation of θ
itself is ignored in the variance, as in the paper (its effect is of order 1/n).

The relative lift needs more than the difference's variance: with D = ȳ_c − ȳ_t, the
adjusted means are x̄_c − θ·(n_t/N)·D and x̄_t + θ·(n_c/N)·D, so both contain D and are
correlated. Their variances and covariance (`adjusted_moments`) go to the lift's delta method
and Fieller interval (`analysis.lift`).
"""

from __future__ import annotations

from dataclasses import replace

from analysis.compare import (
    ArmEstimate,
    Comparison,
    CupedAdjustment,
    check_arms,
    compare,
    compare_estimates,
)
from analysis.inference import Alternative
from analysis.lift import MeanMoments
from analysis.sequential import DEFAULT_TUNING_N
from analysis.stats import SampleStats


def cuped_theta(control: SampleStats, treatment: SampleStats) -> float:
    """The pooled within-arm regression slope of x on the covariate y (0 if y is constant)."""
    ss_y = control.ss_y + treatment.ss_y
    if ss_y == 0.0:
        return 0.0
    return (control.sp_xy + treatment.sp_xy) / ss_y


def _adjusted_arm(arm: SampleStats, theta: float, mean: float) -> ArmEstimate:
    """The arm's adjusted mean with the per-user variance of x − θ·y (for the difference)."""
    variance = arm.variance - 2.0 * theta * arm.covariance + theta * theta * arm.variance_y
    return ArmEstimate(mean, max(variance, 0.0), arm.n)


def adjusted_moments(control: SampleStats, treatment: SampleStats, theta: float) -> MeanMoments:
    """The adjusted means with their sampling variances and covariance (θ taken as fixed)."""
    n_c, n_t = control.n, treatment.n
    w_c, w_t = n_t / (n_c + n_t), n_c / (n_c + n_t)  # the weights of D in each adjusted mean
    var_d = control.variance_y / n_c + treatment.variance_y / n_t
    # Cov(x̄_c, D) and −Cov(x̄_t, D)
    cov_c, cov_t = control.covariance / n_c, treatment.covariance / n_t
    pooled_mean_y = (n_c * control.mean_y + n_t * treatment.mean_y) / (n_c + n_t)
    return MeanMoments(
        control=control.mean - theta * (control.mean_y - pooled_mean_y),
        treatment=treatment.mean - theta * (treatment.mean_y - pooled_mean_y),
        var_control=control.variance / n_c - 2 * theta * w_c * cov_c + (theta * w_c) ** 2 * var_d,
        var_treatment=(treatment.variance / n_t - 2 * theta * w_t * cov_t
                       + (theta * w_t) ** 2 * var_d),
        covariance=theta * (w_t * cov_c + w_c * cov_t) - theta**2 * w_c * w_t * var_d,
    )


def _variance_reduction(adjusted: Comparison, unadjusted: Comparison) -> float:
    if unadjusted.std_error == 0.0:
        return 0.0
    return 1.0 - (adjusted.std_error / unadjusted.std_error) ** 2


def cuped_compare(
    control: SampleStats,
    treatment: SampleStats,
    *,
    alpha: float = 0.05,
    alternative: Alternative = "two-sided",
    tuning_n: float = DEFAULT_TUNING_N,
) -> Comparison:
    """`compare` on CUPED-adjusted means; `result.cuped` holds θ, the variance reduction and
    the unadjusted comparison."""
    check_arms(control.n, treatment.n)
    unadjusted = compare(
        control, treatment, alpha=alpha, alternative=alternative, tuning_n=tuning_n
    )
    theta = cuped_theta(control, treatment)
    moments = adjusted_moments(control, treatment, theta)
    adjusted = compare_estimates(
        _adjusted_arm(control, theta, moments.control),
        _adjusted_arm(treatment, theta, moments.treatment),
        alpha=alpha,
        alternative=alternative,
        tuning_n=tuning_n,
        moments=moments,
    )
    info = CupedAdjustment(theta, _variance_reduction(adjusted, unadjusted), unadjusted)
    return replace(adjusted, cuped=info)
