from __future__ import annotations

import math

import pytest
from scipy import stats as scipy_stats

from analysis import AnalysisError, Interval
from analysis.inference import (
    check_alpha,
    critical_value,
    interval,
    p_value,
    ratio_statistic,
)


@pytest.mark.parametrize("df", [3.0, 41.7, 1e4, math.inf])
@pytest.mark.parametrize("statistic", [-3.1, -0.2, 0.0, 1.7, 6.0])
def test_p_values_match_scipy(df: float, statistic: float) -> None:
    distribution = scipy_stats.norm if math.isinf(df) else scipy_stats.t(df)
    assert p_value(statistic, df, "greater") == pytest.approx(distribution.sf(statistic), rel=1e-9)
    assert p_value(statistic, df, "less") == pytest.approx(distribution.cdf(statistic), rel=1e-9)
    two_sided = min(1.0, 2 * distribution.sf(abs(statistic)))
    assert p_value(statistic, df, "two-sided") == pytest.approx(two_sided, rel=1e-9)


@pytest.mark.parametrize("df", [3.0, 41.7, math.inf])
def test_critical_values_match_scipy(df: float) -> None:
    distribution = scipy_stats.norm if math.isinf(df) else scipy_stats.t(df)
    assert critical_value(0.05, df, "two-sided") == pytest.approx(distribution.ppf(0.975), rel=1e-9)
    assert critical_value(0.05, df, "greater") == pytest.approx(distribution.ppf(0.95), rel=1e-9)


def test_one_sided_intervals_are_open_on_one_side() -> None:
    assert interval(1.0, 0.5, 2.0, "two-sided") == Interval(0.0, 2.0)
    assert interval(1.0, 0.5, 2.0, "greater") == Interval(0.0, math.inf)
    assert interval(1.0, 0.5, 2.0, "less") == Interval(-math.inf, 2.0)
    assert Interval(0.0, 2.0).width == 2.0
    assert Interval(0.0, math.inf).contains(1e300)
    assert not Interval(0.0, 2.0).contains(-1e-9)


def test_statistic_at_zero_standard_error() -> None:
    assert ratio_statistic(1.0, 0.5) == 2.0
    assert ratio_statistic(0.0, 0.0) == 0.0
    assert ratio_statistic(-3.0, 0.0) == -math.inf


@pytest.mark.parametrize("alpha", [0, 1, -0.1, float("nan"), "0.05"])
def test_alpha_must_be_a_probability(alpha: object) -> None:
    with pytest.raises(AnalysisError, match="alpha"):
        check_alpha(alpha)  # type: ignore[arg-type]
