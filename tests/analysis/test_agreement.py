"""The failures found by checking against scipy and statsmodels, each on its own input."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats

from analysis import AnalysisError, RatioStats, SampleStats, compare, compare_ratio, cuped_compare
from analysis.cuped import adjusted_moments, cuped_theta
from analysis.sequential import always_valid_multiplier


def _large_mean(seed: int, n: int = 1000) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return 1e8 + rng.normal(0.0, 1.0, n), 1e8 + 0.1 + rng.normal(0.0, 1.0, n)


# --- 3. catastrophic cancellation ------------------------------------------------------------


def test_large_mean_small_spread_keeps_its_variance_and_matches_scipy() -> None:
    control, treatment = _large_mean(1)
    c, t = SampleStats.from_values(control), SampleStats.from_values(treatment)
    assert c.variance == pytest.approx(control.var(ddof=1), rel=1e-6)
    result = compare(c, t)
    welch = scipy_stats.ttest_ind(treatment, control, equal_var=False)
    assert result.p_value == pytest.approx(welch.pvalue, rel=1e-5)
    assert result.diff_ci.width > 0.0


def test_raw_sums_that_lost_the_variance_are_refused_not_p_zero() -> None:
    control, treatment = _large_mean(2)
    raw = [SampleStats(len(x), float(x.sum()), float(x @ x)) for x in (control, treatment)]
    with pytest.raises(AnalysisError, match="lost to rounding"):
        compare(*raw)


def test_exact_zero_variance_is_still_zero() -> None:
    everyone = SampleStats.from_conversions(50, 50)  # raw integer sums: exact
    assert everyone.variance == 0.0
    constant = SampleStats.from_values(np.full(40, 1e8 + 0.3))  # shifted sums: exactly 0
    assert constant.variance == 0.0


def test_large_ratio_denominators_keep_their_variance() -> None:
    rng = np.random.default_rng(3)
    den = 1e8 + rng.normal(0.0, 1.0, 500)
    num = 2.0 * den + rng.normal(0.0, 1.0, 500)
    stats = RatioStats.from_values(num, den)
    linear = (num - stats.ratio * den) / den.mean()
    assert stats.linearized_variance == pytest.approx(linear.var(ddof=1), rel=1e-6)


# --- 4. CUPED lift standard error -----------------------------------------------------------


def _cuped_arms(seed: int, n: int, lift: float) -> tuple[SampleStats, SampleStats]:
    rng = np.random.default_rng(seed)
    yc, yt = rng.normal(10.0, 3.0, n), rng.normal(10.0, 3.0, n + n // 3)
    xc = yc + rng.normal(0.0, 0.5, n)
    xt = (1 + lift) * 10.0 + (yt - 10.0) + rng.normal(0.0, 0.5, len(yt))
    return SampleStats.from_values(xc, yc), SampleStats.from_values(xt, yt)


def test_cuped_lift_error_is_the_delta_method_on_the_four_means() -> None:
    """Against the Jacobian of the adjusted lift applied to the covariance of (x̄c, ȳc, x̄t, ȳt)."""
    control, treatment = _cuped_arms(4, 300, 0.5)
    theta = cuped_theta(control, treatment)
    n_c, n_t = control.n, treatment.n
    w = n_c / (n_c + n_t)

    def lift(p: np.ndarray) -> float:
        pooled = w * p[1] + (1 - w) * p[3]
        return (p[2] - theta * (p[3] - pooled)) / (p[0] - theta * (p[1] - pooled)) - 1.0

    means = np.array([control.mean, control.mean_y, treatment.mean, treatment.mean_y])
    cov = np.zeros((4, 4))
    for i, arm in ((0, control), (2, treatment)):
        cov[i:i + 2, i:i + 2] = np.array([[arm.variance, arm.covariance],
                                          [arm.covariance, arm.variance_y]]) / arm.n
    step = 1e-6 * np.abs(means)
    grad = np.array([(lift(means + np.eye(4)[k] * step[k]) - lift(means - np.eye(4)[k] * step[k]))
                     / (2 * step[k]) for k in range(4)])
    result = cuped_compare(control, treatment)
    assert result.lift == pytest.approx(lift(means), rel=1e-12)
    assert result.lift_std_error == pytest.approx(math.sqrt(grad @ cov @ grad), rel=1e-6)
    moments = adjusted_moments(control, treatment, theta)
    assert moments.variance_at(1.0) == pytest.approx(result.std_error**2, rel=1e-9)


def test_cuped_lift_interval_covers_a_fifty_percent_lift() -> None:
    reps = 1500
    hits = sum(bool(ci is not None and ci.contains(0.5)) for ci in (
        cuped_compare(*_cuped_arms(seed, 200, 0.5)).lift_ci for seed in range(reps)))
    # 95 % ± 3 Monte-Carlo standard errors (0.56 points each).
    assert abs(hits / reps - 0.95) < 0.017


# --- 5. one verdict per metric --------------------------------------------------------------


@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
def test_p_value_and_lift_interval_agree_at_twenty_per_arm(alternative: str) -> None:
    disagreements, checked = 0, 0
    for seed in range(400):
        rng = np.random.default_rng(seed)
        control, treatment = rng.gamma(2.0, 3.0, 20), rng.gamma(2.0, 3.0, 20) * 1.6
        result = compare(SampleStats.from_values(control), SampleStats.from_values(treatment),
                         alternative=alternative)  # type: ignore[arg-type]
        if result.lift_ci is None:
            continue
        checked += 1
        disagreements += (result.p_value < 0.05) == result.lift_ci.contains(0.0)
    assert checked > 350
    assert disagreements == 0


def test_always_valid_p_value_and_lift_interval_agree() -> None:
    rng = np.random.default_rng(5)
    verdicts = set()
    for _ in range(200):
        c, t = rng.gamma(2.0, 3.0, 400), rng.gamma(2.0, 3.0, 400) * rng.uniform(1.0, 1.3)
        result = compare(SampleStats.from_values(c), SampleStats.from_values(t))
        assert result.lift_ci_always_valid is not None
        rejected = result.p_value_always_valid < 0.05
        assert rejected != result.lift_ci_always_valid.contains(0.0)
        verdicts.add(rejected)
    assert verdicts == {True, False}  # both outcomes were checked


# --- 7. undefined lifts and tuning ----------------------------------------------------------


@pytest.mark.parametrize(("control", "reason"), [
    (SampleStats.from_conversions(100, 0), "control mean is 0"),
    (SampleStats.from_values([-3.0, -1.0, -2.0]), "control mean is negative"),
])
def test_undefined_lifts_carry_a_reason(control: SampleStats, reason: str) -> None:
    result = compare(control, SampleStats.from_values([1.0, 2.0, 4.0]))
    assert (result.lift, result.lift_std_error, result.lift_ci) == (None, None, None)
    assert result.lift_undefined is not None and reason in result.lift_undefined
    assert math.isfinite(result.p_value)


def test_ratio_denominators_of_opposite_signs_leave_the_lift_undefined() -> None:
    control = RatioStats.from_values([1.0, 2.0, 3.0], [1.0, 2.0, 2.0])
    treatment = RatioStats.from_values([1.0, 2.0, 3.0], [-1.0, -2.0, -2.0])
    result = compare_ratio(control, treatment)
    assert result.lift is None
    assert result.lift_undefined is not None and "opposite signs" in result.lift_undefined


def test_a_control_mean_indistinguishable_from_zero_has_no_lift_interval() -> None:
    result = compare(SampleStats.from_values([-1.0, 1.2, -0.9, 1.0]),
                     SampleStats.from_values([4.0, 5.0, 6.0, 5.5]))
    assert result.lift is not None and result.lift_ci is None
    assert result.lift_undefined is not None and "unbounded" in result.lift_undefined


def test_width_grows_like_the_square_root_of_an_oversized_tuning_n() -> None:
    n = 1_000
    ratio = always_valid_multiplier(n, 0.05, 1e6 * n) / always_valid_multiplier(n, 0.05, 1e4 * n)
    assert ratio == pytest.approx(math.sqrt(1e6 / 1e4), rel=1e-3)
