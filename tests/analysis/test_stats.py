from __future__ import annotations

import numpy as np
import pytest

from analysis import AnalysisError, RatioStats, SampleStats
from errors import AbstreamError


def test_moments_match_numpy() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(3.0, 2.0, 300)
    y = 0.5 * x + rng.normal(1.0, 1.0, 300)
    stats = SampleStats.from_values(x, y)
    assert stats.n == 300
    assert stats.mean == pytest.approx(x.mean(), rel=1e-12)
    assert stats.variance == pytest.approx(x.var(ddof=1), rel=1e-9)
    assert stats.mean_y == pytest.approx(y.mean(), rel=1e-12)
    assert stats.variance_y == pytest.approx(y.var(ddof=1), rel=1e-9)
    assert stats.covariance == pytest.approx(np.cov(x, y, ddof=1)[0, 1], rel=1e-9)


def test_conversions_are_the_zero_one_case() -> None:
    stats = SampleStats.from_conversions(200, 30)
    ones = np.r_[np.ones(30), np.zeros(170)]
    # from_values sums x − 1 (the first user's value): the same users about another reference.
    assert stats.rebased(1.0, 0.0) == SampleStats.from_values(ones)
    assert stats.mean == pytest.approx(0.15)
    assert stats.variance == pytest.approx(ones.var(ddof=1), rel=1e-12)


def test_adding_stats_pools_the_users() -> None:
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=50), rng.normal(size=70)
    ya, yb = rng.normal(size=50), rng.normal(size=70)
    pooled = SampleStats.from_values(a, ya) + SampleStats.from_values(b, yb)
    both = SampleStats.from_values(np.r_[a, b], np.r_[ya, yb])
    assert pooled.n == 120
    assert pooled.mean == pytest.approx(both.mean, rel=1e-12)
    assert pooled.covariance == pytest.approx(both.covariance, rel=1e-9)


def test_ratio_linearized_variance_is_the_delta_method() -> None:
    rng = np.random.default_rng(3)
    den = rng.poisson(5.0, 400) + 1.0
    num = rng.binomial(den.astype(int), 0.3).astype(float)
    stats = RatioStats.from_values(num, den)
    ratio = num.sum() / den.sum()
    linearized = (num - ratio * den) / den.mean()
    assert stats.ratio == pytest.approx(ratio, rel=1e-12)
    assert stats.linearized_variance == pytest.approx(linearized.var(ddof=1), rel=1e-9)


def test_identical_values_have_exactly_zero_variance() -> None:
    # 0.1 is not representable: the raw sums disagree by rounding, the variance must not go < 0.
    stats = SampleStats.from_values(np.full(1000, 0.1))
    assert stats.variance == 0.0


def test_error_class_is_an_abstream_error() -> None:
    assert issubclass(AnalysisError, AbstreamError)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((-1, 0.0, 0.0), "non-negative integer"),
        ((2.5, 1.0, 1.0), "non-negative integer"),
        ((True, 1.0, 1.0), "non-negative integer"),
        ((10, 5.0, 2.0), "inconsistent sums"),  # Σx² < (Σx)²/n
        ((0, 1.0, 1.0), "empty variant"),
        ((10, float("nan"), 1.0), "finite"),
        ((10, "5", 5.0), "finite"),
        ((10, 5.0, 5.0, 0.0, 0.0, 3.0), "correlation beyond"),  # Σxy without any y
        ((10, 5.0, 5.0, 5.0, 5.0, 5.0 + 1e-3), "correlation beyond"),
    ],
)
def test_impossible_sums_are_refused(args: tuple[float, ...], message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        SampleStats(*args)  # type: ignore[arg-type]


def test_conversions_cannot_exceed_users() -> None:
    with pytest.raises(AnalysisError, match="exceed"):
        SampleStats.from_conversions(10, 11)


@pytest.mark.parametrize(("n", "message"), [(0, "empty"), (1, "at least 2")])
def test_variance_needs_two_users(n: int, message: str) -> None:
    stats = SampleStats(n, float(n), float(n))
    with pytest.raises(AnalysisError, match=message):
        _ = stats.variance


def test_empty_ratio_variant_with_sums_is_refused() -> None:
    with pytest.raises(AnalysisError, match="empty variant"):
        RatioStats(0, 1.0, 1.0, 2.0, 4.0, 2.0)


def test_ratio_with_zero_denominator_is_refused() -> None:
    stats = RatioStats(5, 1.0, 1.0, 0.0, 0.0, 0.0)
    with pytest.raises(AnalysisError, match="denominator sums to zero"):
        _ = stats.ratio
