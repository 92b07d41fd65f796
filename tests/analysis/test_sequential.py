from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, optimize
from scipy import stats as scipy_stats

from analysis import AnalysisError, SampleStats, compare
from analysis.sequential import (
    DEFAULT_TUNING_N,
    always_valid_multiplier,
    always_valid_p_value,
    mixture_precision,
)


def _mixture_likelihood_ratio(z: float, n: float, rho: float) -> float:
    """∫ exp(θ·S − θ²·n/2) N(θ; 0, 1/ρ) dθ by quadrature, for unit per-user variance.

    After n users the score S = z·√n is Brownian motion with drift θ in "time" n; mixing its
    likelihood ratio over θ ~ N(0, 1/ρ) is the normal-mixture martingale of Howard et al.
    """
    score = z * math.sqrt(n)
    centre, spread = score / (n + rho), 1.0 / math.sqrt(n + rho)
    prior = scipy_stats.norm(0.0, 1.0 / math.sqrt(rho))

    def integrand(theta: float) -> float:
        return math.exp(theta * score - theta * theta * n / 2.0) * prior.pdf(theta)

    value, _ = integrate.quad(
        integrand, centre - 40 * spread, centre + 40 * spread, epsabs=0.0, epsrel=1e-13, limit=200
    )
    return value


@pytest.mark.parametrize(("z", "n"), [(0.5, 200), (2.0, 5_000), (3.5, 40_000), (-2.8, 1_000)])
def test_p_value_is_the_inverse_mixture_likelihood_ratio(z: float, n: int) -> None:
    rho = mixture_precision(0.05)
    expected = min(1.0, 1.0 / _mixture_likelihood_ratio(z, n, rho))
    assert always_valid_p_value(z, n, 0.05) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("n", [100, 10_000, 1_000_000])
@pytest.mark.parametrize("alpha", [0.05, 0.01])
def test_interval_edge_is_where_the_mixture_reaches_one_over_alpha(n: int, alpha: float) -> None:
    multiplier = always_valid_multiplier(n, alpha)
    assert always_valid_p_value(multiplier, n, alpha) == pytest.approx(alpha, rel=1e-9)
    lr = _mixture_likelihood_ratio(multiplier, n, mixture_precision(alpha))
    assert lr == pytest.approx(1.0 / alpha, rel=1e-9)


def test_tuning_makes_the_interval_nearly_tightest_at_the_tuning_size() -> None:
    # Howard et al. (2021) give ρ in closed form as an approximation to the width-minimising one.
    alpha, n = 0.05, DEFAULT_TUNING_N

    def width(rho: float) -> float:
        return (n + rho) / n * (math.log1p(n / rho) + 2.0 * math.log(1.0 / alpha))

    best = optimize.minimize_scalar(width, bounds=(1.0, 10.0 * n), method="bounded")
    ours = always_valid_multiplier(n, alpha) ** 2
    assert ours == pytest.approx(width(mixture_precision(alpha)), rel=1e-12)
    assert ours <= best.fun * 1.005


def test_multiplier_accepts_arrays() -> None:
    sizes = np.array([10.0, 1e3, 1e5])
    values = always_valid_multiplier(sizes, 0.05)
    assert isinstance(values, np.ndarray)
    assert values == pytest.approx([always_valid_multiplier(float(n), 0.05) for n in sizes])
    assert np.all(values > scipy_stats.norm.ppf(0.975))


def test_one_sided_p_value_is_one_on_the_wrong_side() -> None:
    assert always_valid_p_value(-3.0, 5000, 0.05, "greater") == 1.0
    assert always_valid_p_value(3.0, 5000, 0.05, "less") == 1.0
    assert always_valid_p_value(4.0, 5000, 0.05, "greater") == always_valid_p_value(4.0, 5000, 0.05)


@pytest.mark.parametrize("tuning_n", [0, -5, math.inf, math.nan])
def test_bad_tuning_is_refused(tuning_n: int) -> None:
    with pytest.raises(AnalysisError, match="tuning_n"):
        mixture_precision(0.05, tuning_n)


def test_multiplier_needs_users() -> None:
    with pytest.raises(AnalysisError, match="at least one user"):
        always_valid_multiplier(0, 0.05)


# --- continuous peeking ------------------------------------------------------------------

SIMULATIONS, LOOKS, BATCH = 2000, 500, 10  # a look after every 10 users per arm, up to 5,000
TRUE_EFFECT = 0.2


def _cumulative_sums(rng: np.random.Generator, mean: float, sd: float) -> tuple[np.ndarray, ...]:
    """Exact sufficient statistics of normal users, batch by batch: a batch's sum is normal and
    its within-batch sum of squares σ²·χ²(k − 1), independent of the sum."""
    sums = rng.normal(BATCH * mean, sd * math.sqrt(BATCH), size=(SIMULATIONS, LOOKS))
    within = sd**2 * rng.chisquare(BATCH - 1, size=(SIMULATIONS, LOOKS))
    squares = within + sums**2 / BATCH
    return np.cumsum(sums, axis=1), np.cumsum(squares, axis=1)


def test_always_valid_intervals_keep_coverage_under_continuous_peeking() -> None:
    rng = np.random.default_rng(20240505)
    control = _cumulative_sums(rng, 1.0, 1.0)
    treatment = _cumulative_sums(rng, 1.0 + TRUE_EFFECT, 1.5)
    n = BATCH * np.arange(1, LOOKS + 1)

    def moments(sums: np.ndarray, squares: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return sums / n, (squares - sums**2 / n) / (n - 1) / n

    (mean_c, v_c), (mean_t, v_t) = moments(*control), moments(*treatment)
    diff, se = mean_t - mean_c, np.sqrt(v_c + v_t)
    df = (v_c + v_t) ** 2 / (v_c**2 / (n - 1) + v_t**2 / (n - 1))
    fixed = scipy_stats.t.ppf(0.975, df) * se
    always_valid = always_valid_multiplier(2 * n, 0.05) * se
    miss = np.abs(diff - TRUE_EFFECT)
    fixed_final = float(np.mean(miss[:, -1] <= fixed[:, -1]))
    fixed_peeking = float(np.mean(np.all(miss <= fixed, axis=1)))
    always_valid_peeking = float(np.mean(np.all(miss <= always_valid, axis=1)))
    print(
        f"coverage at the final look only, fixed-horizon: {fixed_final:.4f}; under peeking at "
        f"{LOOKS} looks: fixed-horizon {fixed_peeking:.4f}, always-valid {always_valid_peeking:.4f}"
    )
    assert 0.93 <= fixed_final <= 0.97  # the fixed interval is right when read once
    assert fixed_peeking < 0.80  # and badly wrong when read at every look
    assert always_valid_peeking >= 0.95

    # The vectorised formulas above are the ones `compare` uses.
    look = 37
    result = compare(
        SampleStats(int(n[look]), control[0][0, look], control[1][0, look]),
        SampleStats(int(n[look]), treatment[0][0, look], treatment[1][0, look]),
    )
    assert result.diff_ci.upper - result.diff == pytest.approx(fixed[0, look], rel=1e-9)
    assert result.diff_ci_always_valid.upper - result.diff == pytest.approx(
        always_valid[0, look], rel=1e-9
    )


def test_always_valid_test_still_detects_a_real_effect() -> None:
    rng = np.random.default_rng(20240506)
    control = _cumulative_sums(rng, 0.0, 1.0)
    treatment = _cumulative_sums(rng, 0.08, 1.0)
    n = BATCH * np.arange(1, LOOKS + 1)
    diff = (treatment[0] - control[0]) / n
    variance = sum((s2 - s**2 / n) / (n - 1) / n for s, s2 in (control, treatment))
    z = diff / np.sqrt(variance)
    detected = np.any(np.abs(z) > always_valid_multiplier(2 * n, 0.05), axis=1)
    print(
        "always-valid detection rate of a 0.08 sd effect by 5,000 users per arm: "
        f"{detected.mean():.4f}"
    )
    assert detected.mean() > 0.8
