from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.weightstats import CompareMeans, DescrStatsW

from analysis import AnalysisError, SampleStats, compare, non_inferiority

RTOL = 1e-9


def _arms(seed: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.gamma(4.0, 2.5, 800), rng.gamma(4.0, 2.5, 700) + shift


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("higher_is_better", [True, False])
def test_absolute_margin_matches_statsmodels(seed: int, higher_is_better: bool) -> None:
    control, treatment = _arms(seed, shift=-0.2 if higher_is_better else 0.2)
    comparison = compare(SampleStats.from_values(control), SampleStats.from_values(treatment))
    margin = 0.5
    result = non_inferiority(comparison, margin, relative=False, higher_is_better=higher_is_better)
    means = CompareMeans(DescrStatsW(treatment), DescrStatsW(control))
    if higher_is_better:  # H0: diff <= -margin
        _, p, _ = means.ttest_ind(alternative="larger", usevar="unequal", value=-margin)
        low, _ = means.tconfint_diff(alpha=0.05, alternative="larger", usevar="unequal")
        bound = low
    else:  # H0: diff >= +margin
        _, p, _ = means.ttest_ind(alternative="smaller", usevar="unequal", value=margin)
        _, high = means.tconfint_diff(alpha=0.05, alternative="smaller", usevar="unequal")
        bound = high
    assert result.p_value == pytest.approx(p, rel=RTOL)
    assert result.bound == pytest.approx(bound, rel=RTOL)
    assert result.non_inferior == (p < 0.05)


def test_relative_margin_tests_the_scaled_control_on_the_comparisons_t() -> None:
    control, treatment = _arms(7, shift=-0.1)
    comparison = compare(SampleStats.from_values(control), SampleStats.from_values(treatment))
    result = non_inferiority(comparison, 0.03)
    # H0: m_t ≤ 0.97·m_c, Welch's statistic of treatment against 0.97·control.
    welch = scipy_stats.ttest_ind(treatment, 0.97 * control, equal_var=False)
    assert result.estimate == comparison.lift
    assert result.p_value == pytest.approx(scipy_stats.t.sf(welch.statistic, comparison.df),
                                           rel=RTOL)
    # The bound is the one-sided interval's: the lift interval of a one-sided comparison.
    one_sided = compare(
        SampleStats.from_values(control), SampleStats.from_values(treatment), alternative="greater"
    )
    assert one_sided.lift_ci is not None
    assert result.bound == pytest.approx(one_sided.lift_ci.lower, rel=RTOL)
    assert result.non_inferior == (result.bound > -0.03) == (result.p_value < 0.05)


def test_clearly_worse_treatment_fails_and_equal_treatment_passes() -> None:
    rng = np.random.default_rng(8)
    control = SampleStats.from_values(rng.normal(100.0, 10.0, 5000))
    same = SampleStats.from_values(rng.normal(100.0, 10.0, 5000))
    worse = SampleStats.from_values(rng.normal(90.0, 10.0, 5000))
    assert non_inferiority(compare(control, same), 0.02).non_inferior
    assert not non_inferiority(compare(control, worse), 0.02).non_inferior
    # Latency-like metric: higher is worse, so a 10 % drop is fine.
    assert non_inferiority(compare(control, worse), 0.02, higher_is_better=False).non_inferior


def test_always_valid_bound_is_more_cautious() -> None:
    control, treatment = _arms(9, shift=0.0)
    comparison = compare(SampleStats.from_values(control), SampleStats.from_values(treatment))
    result = non_inferiority(comparison, 0.05)
    assert result.bound_always_valid < result.bound
    assert result.non_inferior >= result.non_inferior_always_valid
    # The bound is where Welch's statistic against the scaled control reaches the multiplier.
    scaled = (1.0 + result.bound_always_valid) * control
    welch = scipy_stats.ttest_ind(treatment, scaled, equal_var=False)
    assert welch.statistic == pytest.approx(comparison.always_valid_multiplier, rel=1e-9)


def test_one_sided_alpha_can_be_stricter_than_the_comparison() -> None:
    control, treatment = _arms(10, shift=0.0)
    comparison = compare(SampleStats.from_values(control), SampleStats.from_values(treatment))
    default, strict = (
        non_inferiority(comparison, 0.05),
        non_inferiority(comparison, 0.05, alpha=0.025),
    )
    assert strict.alpha == 0.025
    assert strict.bound < default.bound
    assert strict.p_value == default.p_value


def test_zero_variance_is_defined() -> None:
    arm = SampleStats(10, 30.0, 90.0)
    result = non_inferiority(compare(arm, arm), 0.01)
    assert result.p_value == 0.0
    assert result.non_inferior


@pytest.mark.parametrize("margin", [0.0, -0.1, float("inf")])
def test_bad_margin_is_refused(margin: float) -> None:
    comparison = compare(
        SampleStats.from_conversions(100, 10), SampleStats.from_conversions(100, 12)
    )
    with pytest.raises(AnalysisError, match="margin"):
        non_inferiority(comparison, margin)


def test_relative_margin_needs_a_non_zero_control() -> None:
    comparison = compare(SampleStats.from_conversions(100, 0), SampleStats.from_conversions(100, 2))
    with pytest.raises(AnalysisError, match="control mean is 0"):
        non_inferiority(comparison, 0.1)
    assert non_inferiority(comparison, 0.1, relative=False).estimate == pytest.approx(0.02)


@pytest.mark.parametrize("relative", [True, False])
@pytest.mark.parametrize("higher_is_better", [True, False])
def test_harm_is_shown_only_when_the_favourable_bound_is_beyond_the_margin(
        relative: bool, higher_is_better: bool) -> None:
    rng = np.random.default_rng(11)
    control = rng.gamma(4.0, 2.5, 20_000)
    worse = 0.85 if higher_is_better else 1.15  # 15 % worse, beyond a 2 % margin
    for factor, harmful in ((worse, True), (1.0, False)):
        treated = rng.gamma(4.0, 2.5, 20_000) * factor
        comparison = compare(SampleStats.from_values(control), SampleStats.from_values(treated))
        margin = 0.02 if relative else float(0.02 * control.mean())
        result = non_inferiority(comparison, margin, relative=relative,
                                 higher_is_better=higher_is_better)
        assert bool(result.harmful_always_valid) is harmful
        sign = 1 if higher_is_better else -1
        # The favourable bound lies on the other side of the estimate from the harmful one.
        assert sign * result.harm_bound_always_valid > sign * result.estimate \
            > sign * result.bound_always_valid
        assert bool(sign * result.harm_bound_always_valid < -margin) is harmful
