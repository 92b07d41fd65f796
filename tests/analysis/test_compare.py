from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats._delta_method import NonlinearDeltaCov
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from analysis import AnalysisError, RatioStats, SampleStats, compare, compare_ratio

RTOL = 1e-9
STATSMODELS_ALTERNATIVE = {"two-sided": "two-sided", "greater": "larger", "less": "smaller"}
ALTERNATIVES = ["two-sided", "greater", "less"]


def _samples(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Unequal sizes, variances and means, skewed: nothing that would hide a wrong formula."""
    rng = np.random.default_rng(seed)
    control = rng.gamma(2.0, 3.0, size=rng.integers(20, 400))
    treatment = rng.gamma(2.5, 2.6, size=rng.integers(20, 400))
    return control, treatment


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_welch_matches_scipy(seed: int, alternative: str) -> None:
    control, treatment = _samples(seed)
    result = compare(
        SampleStats.from_values(control),
        SampleStats.from_values(treatment),
        alternative=alternative,  # type: ignore[arg-type]
    )
    reference = scipy_stats.ttest_ind(treatment, control, equal_var=False, alternative=alternative)
    from_stats = scipy_stats.ttest_ind_from_stats(
        treatment.mean(), treatment.std(ddof=1), len(treatment),
        control.mean(), control.std(ddof=1), len(control),
        equal_var=False, alternative=alternative,
    )  # fmt: skip
    ci = reference.confidence_interval(0.95)
    assert result.diff == pytest.approx(treatment.mean() - control.mean(), rel=RTOL)
    assert result.statistic == pytest.approx(reference.statistic, rel=RTOL)
    assert result.statistic == pytest.approx(from_stats.statistic, rel=RTOL)
    assert result.df == pytest.approx(reference.df, rel=RTOL)
    assert result.p_value == pytest.approx(reference.pvalue, rel=RTOL)
    assert result.p_value == pytest.approx(from_stats.pvalue, rel=RTOL)
    assert result.diff_ci.lower == pytest.approx(ci.low, rel=RTOL)
    assert result.diff_ci.upper == pytest.approx(ci.high, rel=RTOL)


@pytest.mark.parametrize("seed", range(5, 8))
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_welch_matches_statsmodels(seed: int, alternative: str) -> None:
    control, treatment = _samples(seed)
    result = compare(
        SampleStats.from_values(control),
        SampleStats.from_values(treatment),
        alpha=0.1,
        alternative=alternative,  # type: ignore[arg-type]
    )
    means = CompareMeans(DescrStatsW(treatment), DescrStatsW(control))
    sm_alternative = STATSMODELS_ALTERNATIVE[alternative]
    t, p, df = means.ttest_ind(alternative=sm_alternative, usevar="unequal")
    low, high = means.tconfint_diff(alpha=0.1, alternative=sm_alternative, usevar="unequal")
    assert (result.statistic, result.p_value, result.df) == pytest.approx((t, p, df), rel=RTOL)
    assert (result.diff_ci.lower, result.diff_ci.upper) == pytest.approx((low, high), rel=RTOL)


def test_conversions_match_welch_on_the_zero_one_data() -> None:
    control = np.r_[np.ones(130), np.zeros(870)]
    treatment = np.r_[np.ones(165), np.zeros(935)]
    result = compare(
        SampleStats.from_conversions(1000, 130), SampleStats.from_conversions(1100, 165)
    )
    reference = scipy_stats.ttest_ind(treatment, control, equal_var=False)
    assert result.control_mean == pytest.approx(0.13)
    assert result.treatment_mean == pytest.approx(0.15)
    assert result.statistic == pytest.approx(reference.statistic, rel=RTOL)
    assert result.p_value == pytest.approx(reference.pvalue, rel=RTOL)


@pytest.mark.parametrize("seed", range(3))
def test_relative_lift_error_matches_statsmodels_delta_method(seed: int) -> None:
    control, treatment = _samples(seed)
    result = compare(SampleStats.from_values(control), SampleStats.from_values(treatment))
    means = np.array([control.mean(), treatment.mean()])
    mean_cov = np.diag([control.var(ddof=1) / len(control), treatment.var(ddof=1) / len(treatment)])
    delta = NonlinearDeltaCov(lambda p: np.array([p[1] / p[0] - 1.0]), means, mean_cov)
    assert result.lift == pytest.approx(delta.predicted()[0], rel=RTOL)
    assert result.lift_std_error == pytest.approx(delta.se_vectorized()[0], rel=RTOL)


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("alternative", ALTERNATIVES)
def test_lift_interval_ends_are_where_welch_on_scaled_control_reaches_the_critical_value(
    seed: int, alternative: str
) -> None:
    """Fieller: at each end r − 1, scipy's Welch statistic of treatment vs r·control is ±t."""
    control, treatment = _samples(seed)
    result = compare(SampleStats.from_values(control), SampleStats.from_values(treatment),
                     alternative=alternative)  # type: ignore[arg-type]
    assert result.lift_ci is not None
    tail = 0.025 if alternative == "two-sided" else 0.05
    critical = scipy_stats.t.ppf(1 - tail, result.df)
    for end, sign in ((result.lift_ci.lower, 1.0), (result.lift_ci.upper, -1.0)):
        if math.isfinite(end):
            welch = scipy_stats.ttest_ind(treatment, (1 + end) * control, equal_var=False)
            assert welch.statistic == pytest.approx(sign * critical, rel=1e-9)
    assert math.isinf(result.lift_ci.lower) == (alternative == "less")
    assert math.isinf(result.lift_ci.upper) == (alternative == "greater")


def _ratio_samples(
    seed: int,
) -> tuple[tuple[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    arms = []
    for rate, size in ((0.30, 500), (0.33, 450)):
        views = rng.poisson(4.0, size) + 1.0
        clicks = rng.binomial(views.astype(int), rate).astype(float)
        arms.append((clicks, views))
    return arms[0], arms[1]


def _linearized(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """Per-user values whose mean is the ratio and whose variance is the delta-method one."""
    ratio = num.sum() / den.sum()
    return ratio + (num - ratio * den) / den.mean()


@pytest.mark.parametrize("seed", range(3))
def test_ratio_metric_matches_welch_on_linearized_values(seed: int) -> None:
    (c_num, c_den), (t_num, t_den) = _ratio_samples(seed)
    result = compare_ratio(
        RatioStats.from_values(c_num, c_den), RatioStats.from_values(t_num, t_den)
    )
    reference = scipy_stats.ttest_ind(
        _linearized(t_num, t_den), _linearized(c_num, c_den), equal_var=False
    )
    assert result.control_mean == pytest.approx(c_num.sum() / c_den.sum(), rel=RTOL)
    assert result.statistic == pytest.approx(reference.statistic, rel=RTOL)
    assert result.df == pytest.approx(reference.df, rel=RTOL)
    assert result.p_value == pytest.approx(reference.pvalue, rel=RTOL)


def test_ratio_variance_matches_statsmodels_delta_method_with_covariance() -> None:
    (num, den), _ = _ratio_samples(11)
    stats = RatioStats.from_values(num, den)
    mean_cov = np.cov(num, den, ddof=1) / len(num)
    delta = NonlinearDeltaCov(
        lambda p: np.array([p[0] / p[1]]), np.array([num.mean(), den.mean()]), mean_cov
    )
    assert stats.ratio == pytest.approx(delta.predicted()[0], rel=RTOL)
    assert stats.linearized_variance / stats.n == pytest.approx(
        delta.se_vectorized()[0] ** 2, rel=RTOL
    )


def test_nist_handbook_welch_example() -> None:
    # NIST/SEMATECH e-Handbook of Statistical Methods, §1.3.5.3 "Two-Sample t-Test for Equal
    # Means": miles per gallon of US cars (N = 249, mean 20.14458, sd 6.41470) against Japanese
    # cars (N = 79, mean 30.48101, sd 6.10771); unequal variances give T = -12.94627 with
    # 136.8750 degrees of freedom. The summary statistics are rounded, hence the tolerance.
    def from_summary(n: int, mean: float, sd: float) -> SampleStats:
        return SampleStats(n, n * mean, (n - 1) * sd**2 + n * mean**2)

    japan = from_summary(79, 30.48101, 6.10771)
    us = from_summary(249, 20.14458, 6.41470)
    result = compare(japan, us)  # us - japan, the handbook's Y1 - Y2
    assert result.statistic == pytest.approx(-12.94627, rel=1e-5)
    assert result.df == pytest.approx(136.8750, rel=1e-5)
    assert result.p_value < 1e-20


def test_interval_at_another_level_matches_a_fresh_comparison() -> None:
    control, treatment = _samples(3)
    c, t = SampleStats.from_values(control), SampleStats.from_values(treatment)
    at_05 = compare(c, t)
    at_01 = compare(c, t, alpha=0.01)
    assert at_05.diff_ci_at(0.01) == at_01.diff_ci
    assert at_05.lift_ci_at(0.01) == at_01.lift_ci
    assert at_01.diff_ci.width > at_05.diff_ci.width


def test_always_valid_interval_is_wider_and_agrees_with_its_p_value() -> None:
    control, treatment = _samples(4)
    result = compare(SampleStats.from_values(control), SampleStats.from_values(treatment))
    assert result.diff_ci_always_valid.lower < result.diff_ci.lower
    assert result.diff_ci_always_valid.upper > result.diff_ci.upper
    assert result.p_value_always_valid >= result.p_value
    excludes_zero = not result.diff_ci_always_valid.contains(0.0)
    assert excludes_zero == (result.p_value_always_valid < result.alpha)


# --- degenerate but defined --------------------------------------------------------------


def test_zero_variance_equal_means_gives_p_one_and_a_point_interval() -> None:
    arm = SampleStats(10, 30.0, 90.0)  # every user has x = 3
    result = compare(arm, arm)
    assert result.std_error == 0.0
    assert result.statistic == 0.0
    assert result.p_value == 1.0
    assert result.diff_ci.lower == result.diff_ci.upper == 0.0
    assert result.p_value_always_valid == 1.0
    assert result.df == 18.0
    assert compare(arm, arm, alternative="greater").p_value == 0.5


def test_zero_variance_different_means_gives_p_zero() -> None:
    result = compare(SampleStats(10, 30.0, 90.0), SampleStats(12, 48.0, 192.0))
    assert result.statistic == math.inf
    assert result.p_value == 0.0
    assert result.p_value_always_valid == 0.0
    assert result.diff_ci.lower == result.diff_ci.upper == 1.0
    assert result.lift == pytest.approx(1.0 / 3.0)
    assert (
        compare(
            SampleStats(10, 30.0, 90.0), SampleStats(12, 48.0, 192.0), alternative="less"
        ).p_value
        == 1.0
    )


def test_zero_variance_in_one_arm_still_uses_welch() -> None:
    rng = np.random.default_rng(9)
    treatment = rng.normal(1.0, 1.0, 40)
    result = compare(SampleStats(30, 0.0, 0.0), SampleStats.from_values(treatment))
    assert result.df == pytest.approx(len(treatment) - 1, rel=RTOL)
    assert not any(math.isnan(v) for v in (result.statistic, result.p_value, result.df))


def test_zero_control_mean_leaves_the_lift_undefined() -> None:
    result = compare(SampleStats.from_conversions(100, 0), SampleStats.from_conversions(100, 3))
    assert result.lift is None
    assert result.lift_ci is None
    assert result.lift_ci_always_valid is None
    assert result.lift_ci_at(0.01) is None
    assert result.p_value < 1.0


@pytest.mark.parametrize(
    ("control", "treatment", "message"),
    [
        (SampleStats(0, 0.0, 0.0), SampleStats(5, 5.0, 5.0), "control variant is empty"),
        (SampleStats(5, 5.0, 5.0), SampleStats(1, 1.0, 1.0), "treatment variant has n = 1"),
    ],
)
def test_too_few_users_are_refused(
    control: SampleStats, treatment: SampleStats, message: str
) -> None:
    with pytest.raises(AnalysisError, match=message):
        compare(control, treatment)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"alternative": "bigger"}, "alternative"),
    ],
)
def test_bad_settings_are_refused(kwargs: dict[str, object], message: str) -> None:
    arm = SampleStats.from_conversions(100, 10)
    with pytest.raises(AnalysisError, match=message):
        compare(arm, arm, **kwargs)  # type: ignore[arg-type]


def test_ratio_with_zero_denominator_is_refused() -> None:
    arm = RatioStats(5, 0.0, 0.0, 0.0, 0.0, 0.0)
    with pytest.raises(AnalysisError, match="denominator"):
        compare_ratio(arm, arm)
