"""A/A simulations: with no effect, the tests reject at their nominal rate."""

from __future__ import annotations

import numpy as np

from analysis import RatioStats, SampleStats, compare, compare_ratio

SIMULATIONS = 2000
FPR_RANGE = (0.035, 0.065)


def _false_positive_rate(pairs: list[tuple[SampleStats, SampleStats]]) -> float:
    return float(np.mean([compare(c, t).p_value < 0.05 for c, t in pairs]))


def test_aa_false_positive_rate_for_conversions() -> None:
    rng = np.random.default_rng(20240501)
    conversions = rng.binomial(2000, 0.08, size=(SIMULATIONS, 2))
    pairs = [
        (SampleStats.from_conversions(2000, int(c)), SampleStats.from_conversions(2000, int(t)))
        for c, t in conversions
    ]
    rate = _false_positive_rate(pairs)
    print(f"A/A false-positive rate, conversions: {rate:.4f}")
    assert FPR_RANGE[0] <= rate <= FPR_RANGE[1]


def _sums(values: np.ndarray) -> list[SampleStats]:
    return [
        SampleStats(values.shape[1], float(s), float(s2))
        for s, s2 in zip(values.sum(axis=1), (values**2).sum(axis=1), strict=True)
    ]


def test_aa_false_positive_rate_for_skewed_means() -> None:
    rng = np.random.default_rng(20240502)
    control = _sums(rng.lognormal(0.0, 1.0, size=(SIMULATIONS, 600)))
    treatment = _sums(rng.lognormal(0.0, 1.0, size=(SIMULATIONS, 500)))
    rate = _false_positive_rate(list(zip(control, treatment, strict=True)))
    print(f"A/A false-positive rate, lognormal means: {rate:.4f}")
    assert FPR_RANGE[0] <= rate <= FPR_RANGE[1]


def test_aa_false_positive_rate_for_ratio_metrics() -> None:
    rng = np.random.default_rng(20240503)
    den = rng.poisson(3.0, size=(SIMULATIONS, 2, 400)) + 1
    num = rng.binomial(den, 0.2).astype(float)
    den = den.astype(float)

    def arm(i: int, j: int) -> RatioStats:
        x, y = num[i, j], den[i, j]
        return RatioStats(len(x), x.sum(), x @ x, y.sum(), y @ y, x @ y)

    rejections = [compare_ratio(arm(i, 0), arm(i, 1)).p_value < 0.05 for i in range(SIMULATIONS)]
    rate = float(np.mean(rejections))
    print(f"A/A false-positive rate, ratio metric: {rate:.4f}")
    assert FPR_RANGE[0] <= rate <= FPR_RANGE[1]
