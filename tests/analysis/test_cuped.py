from __future__ import annotations

import numpy as np
import pytest
import statsmodels.api as sm
from scipy import stats as scipy_stats

from analysis import SampleStats, compare, cuped_compare
from analysis.cuped import cuped_theta

RTOL = 1e-9


def _experiment(
    seed: int, n_control: int = 400, n_treatment: int = 350, effect: float = 0.3
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    """(x, y) per arm: y is the pre-period value, x the in-experiment value, correlated."""
    rng = np.random.default_rng(seed)
    arms = []
    for n, shift in ((n_control, 0.0), (n_treatment, effect)):
        y = rng.gamma(3.0, 2.0, n)
        x = 0.8 * y + rng.normal(2.0 + shift, 1.5, n)
        arms.append((x, y))
    return arms[0], arms[1]


def _stats(arm: tuple[np.ndarray, np.ndarray]) -> SampleStats:
    return SampleStats.from_values(*arm)


@pytest.mark.parametrize("seed", range(3))
def test_cuped_equals_the_regression_adjusted_estimate(seed: int) -> None:
    (xc, yc), (xt, yt) = _experiment(seed)
    result = cuped_compare(_stats((xc, yc)), _stats((xt, yt)))
    # x ~ 1 + treatment + y: the common slope is θ, the treatment coefficient the CUPED effect.
    design = np.column_stack(
        [np.ones(len(xc) + len(xt)), np.r_[np.zeros(len(xc)), np.ones(len(xt))], np.r_[yc, yt]]
    )
    fit = sm.OLS(np.r_[xc, xt], design).fit()
    assert result.cuped is not None
    assert result.cuped.theta == pytest.approx(fit.params[2], rel=RTOL)
    assert result.diff == pytest.approx(fit.params[1], rel=RTOL)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("alternative", ["two-sided", "greater"])
def test_cuped_is_welch_on_the_adjusted_values(seed: int, alternative: str) -> None:
    (xc, yc), (xt, yt) = _experiment(seed)
    control, treatment = _stats((xc, yc)), _stats((xt, yt))
    result = cuped_compare(control, treatment, alternative=alternative)  # type: ignore[arg-type]
    theta = cuped_theta(control, treatment)
    pooled_mean_y = np.r_[yc, yt].mean()
    adjusted_c = xc - theta * (yc - pooled_mean_y)
    adjusted_t = xt - theta * (yt - pooled_mean_y)
    reference = scipy_stats.ttest_ind(
        adjusted_t, adjusted_c, equal_var=False, alternative=alternative
    )
    ci = reference.confidence_interval(0.95)
    assert result.control_mean == pytest.approx(adjusted_c.mean(), rel=RTOL)
    assert result.treatment_mean == pytest.approx(adjusted_t.mean(), rel=RTOL)
    assert result.statistic == pytest.approx(reference.statistic, rel=RTOL)
    assert result.df == pytest.approx(reference.df, rel=RTOL)
    assert result.p_value == pytest.approx(reference.pvalue, rel=RTOL)
    assert (result.diff_ci.lower, result.diff_ci.upper) == pytest.approx(
        (ci.low, ci.high), rel=RTOL
    )


def test_variance_reduction_is_the_squared_correlation_for_equal_arms() -> None:
    # Deng, Xu, Kohavi & Walker (2013), §3.2: with the optimal θ the variance of the
    # difference shrinks by the factor 1 − ρ², ρ the correlation of x and the covariate.
    (xc, yc), (xt, yt) = _experiment(4, n_control=500, n_treatment=500)
    result = cuped_compare(_stats((xc, yc)), _stats((xt, yt)))
    centered = np.r_[xc - xc.mean(), xt - xt.mean()], np.r_[yc - yc.mean(), yt - yt.mean()]
    rho = np.corrcoef(*centered)[0, 1]
    assert result.cuped is not None
    assert result.cuped.variance_reduction == pytest.approx(rho**2, rel=RTOL)
    assert result.cuped.variance_reduction > 0.5  # the covariate here is strongly correlated


def test_cuped_keeps_the_unadjusted_comparison_and_narrows_the_interval() -> None:
    control, treatment = (_stats(arm) for arm in _experiment(5))
    result = cuped_compare(control, treatment)
    assert result.cuped is not None
    plain = compare(control, treatment)
    assert result.cuped.unadjusted == plain
    ratio = (result.std_error / plain.std_error) ** 2
    assert result.cuped.variance_reduction == pytest.approx(1.0 - ratio, rel=RTOL)
    assert result.diff_ci.width < plain.diff_ci.width
    assert result.diff_ci_always_valid.width < plain.diff_ci_always_valid.width


def test_constant_covariate_means_no_adjustment() -> None:
    rng = np.random.default_rng(6)
    xc, xt = rng.normal(size=100), rng.normal(size=120)
    control = SampleStats.from_values(xc, np.full(100, 7.0))
    treatment = SampleStats.from_values(xt, np.full(120, 7.0))
    result = cuped_compare(control, treatment)
    plain = compare(control, treatment)
    assert result.cuped is not None
    assert result.cuped.theta == 0.0
    assert result.cuped.variance_reduction == 0.0
    assert result.diff == plain.diff
    assert result.p_value == pytest.approx(plain.p_value, rel=RTOL)


def test_perfect_covariate_gives_a_defined_result() -> None:
    # x = y for every user: the adjusted values are all equal, so the adjusted variance is 0.
    rng = np.random.default_rng(7)
    yc, yt = rng.normal(size=50), rng.normal(size=60)
    result = cuped_compare(SampleStats.from_values(yc, yc), SampleStats.from_values(yt, yt))
    assert result.cuped is not None
    assert result.cuped.theta == pytest.approx(1.0, rel=RTOL)
    assert result.cuped.variance_reduction == pytest.approx(1.0, rel=RTOL)
    assert result.diff == pytest.approx(0.0, abs=1e-12)
    assert not np.isnan(result.p_value)


def test_aa_false_positive_rate_with_and_without_cuped() -> None:
    simulations, n = 2000, 500
    rng = np.random.default_rng(20240504)
    y = rng.gamma(3.0, 2.0, size=(simulations, 2, n))
    x = 0.8 * y + rng.normal(2.0, 1.5, size=(simulations, 2, n))
    sums = (x.sum(-1), (x * x).sum(-1), y.sum(-1), (y * y).sum(-1), (x * y).sum(-1))
    plain, adjusted, reductions = [], [], []
    for i in range(simulations):
        control, treatment = (SampleStats(n, *(float(s[i, arm]) for s in sums)) for arm in (0, 1))
        plain.append(compare(control, treatment).p_value < 0.05)
        result = cuped_compare(control, treatment)
        adjusted.append(result.p_value < 0.05)
        reductions.append(result.cuped.variance_reduction)  # type: ignore[union-attr]
    plain_rate, cuped_rate = float(np.mean(plain)), float(np.mean(adjusted))
    print(
        f"A/A false-positive rate: {plain_rate:.4f} without CUPED, {cuped_rate:.4f} with CUPED "
        f"(mean variance reduction {np.mean(reductions):.3f})"
    )
    assert 0.035 <= plain_rate <= 0.065
    assert 0.035 <= cuped_rate <= 0.065
    assert np.mean(reductions) > 0.5
