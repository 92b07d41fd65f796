from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats as scipy_stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from analysis import AnalysisError, mde, sample_size


def _settings(seed: int) -> dict[str, float]:
    rng = np.random.default_rng(seed)
    return {
        "variance": float(rng.uniform(0.1, 50.0)),
        "alpha": float(rng.choice([0.01, 0.05, 0.1])),
        "power": float(rng.choice([0.7, 0.8, 0.9, 0.95])),
        "variance_reduction": float(rng.choice([0.0, 0.3, 0.6])),
    }


@pytest.mark.parametrize("seed", range(6))
def test_one_sided_mde_has_exactly_the_requested_power(seed: int) -> None:
    settings = _settings(seed)
    n = int(np.random.default_rng(seed).integers(50, 100_000))
    effect = mde(n, relative=False, alternative="greater", **settings)
    sd = math.sqrt(settings["variance"] * (1.0 - settings["variance_reduction"]))
    achieved = NormalIndPower().power(
        effect / sd, nobs1=n, alpha=settings["alpha"], ratio=1.0, alternative="larger"
    )
    assert achieved == pytest.approx(settings["power"], rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_two_sided_mde_has_the_requested_power_in_its_direction(seed: int) -> None:
    # statsmodels also counts significant results in the wrong direction; the textbook
    # formula does not, so the two differ by exactly that (tiny) tail.
    settings = _settings(seed)
    n = int(np.random.default_rng(seed).integers(50, 100_000))
    effect = mde(n, relative=False, **settings)
    sd = math.sqrt(settings["variance"] * (1.0 - settings["variance_reduction"]))
    standardized = effect / sd * math.sqrt(n / 2.0)
    wrong_direction = scipy_stats.norm.cdf(
        -scipy_stats.norm.ppf(1 - settings["alpha"] / 2) - standardized
    )
    achieved = NormalIndPower().power(effect / sd, nobs1=n, alpha=settings["alpha"], ratio=1.0)
    assert achieved == pytest.approx(settings["power"] + wrong_direction, rel=1e-9)


@pytest.mark.parametrize("seed", range(6))
def test_sample_size_is_the_smallest_that_reaches_the_mde(seed: int) -> None:
    settings = _settings(seed)
    target = float(np.random.default_rng(seed).uniform(0.01, 2.0))
    n = sample_size(target, relative=False, **settings)
    assert mde(n, relative=False, **settings) <= target
    assert mde(n - 1, relative=False, **settings) > target


def test_relative_effects_and_conversion_variance() -> None:
    baseline = 0.04
    n = 50_000
    relative = mde(n, baseline=baseline)
    absolute = mde(n, variance=baseline * (1 - baseline), relative=False)
    assert relative == pytest.approx(absolute / baseline, rel=1e-12)
    assert sample_size(relative, baseline=baseline) == n


def test_cuped_reduction_scales_the_variance() -> None:
    plain = sample_size(0.02, baseline=10.0, variance=25.0)
    reduced = sample_size(0.02, baseline=10.0, variance=25.0, variance_reduction=0.5)
    assert reduced == pytest.approx(plain / 2, abs=1)
    assert mde(1000, variance=4.0, relative=False, variance_reduction=0.75) == pytest.approx(
        mde(1000, variance=1.0, relative=False), rel=1e-12
    )


def test_cohen_table_example() -> None:
    # Cohen (1988), "Statistical Power Analysis for the Behavioral Sciences", ch. 2: a two-sided
    # t test at alpha 0.05 with power 0.80 needs n = 64 per group for an effect d = 0.5.
    # The normal approximation needs slightly fewer users than the t test.
    assert math.ceil(TTestIndPower().solve_power(0.5, alpha=0.05, power=0.8)) == 64
    assert sample_size(0.5, variance=1.0, relative=False) == 63


@pytest.mark.parametrize("effect", [0.01, 0.1, 0.5])
def test_rule_of_sixteen(effect: float) -> None:
    # van Belle (2008), "Statistical Rules of Thumb", ch. 2, and Kohavi, Tang & Xu (2020),
    # ch. 17: at alpha 0.05 and power 0.8, n ≈ 16σ²/δ² per variant (16 rounds up 15.7).
    n = sample_size(effect, variance=1.0, relative=False)
    assert 0.97 <= n / (16.0 / effect**2) <= 1.0


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: sample_size(0.0, variance=1.0, relative=False), "non-zero"),
        (lambda: sample_size(0.1, baseline=1.5), "conversion rate"),
        (lambda: sample_size(0.1, variance=1.0), "baseline"),
        (lambda: sample_size(0.1, variance=-1.0, relative=False), "positive"),
        (lambda: sample_size(0.1, variance=1.0, relative=False, power=1.0), "power"),
        (lambda: sample_size(0.1, variance=1.0, relative=False, power=0.01), "must exceed"),
        (lambda: sample_size(0.1, baseline=0.2, variance_reduction=1.0), "variance_reduction"),
        (lambda: mde(1, variance=1.0, relative=False), ">= 2"),
        (lambda: mde(100, variance=1.0, relative=False, alternative="up"), "alternative"),
    ],
)
def test_bad_inputs_are_refused(call: object, message: str) -> None:
    with pytest.raises(AnalysisError, match=message):
        call()  # type: ignore[operator]
