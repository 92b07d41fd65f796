from __future__ import annotations

import numpy as np
import pytest
from scipy import stats as scipy_stats

from analysis import AnalysisError, sequential_srm, srm_chi_square


@pytest.mark.parametrize("seed", range(4))
def test_chi_square_matches_scipy(seed: int) -> None:
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 6))
    weights = rng.uniform(0.5, 3.0, k)
    counts = rng.multinomial(int(rng.integers(100, 100_000)), weights / weights.sum())
    result = srm_chi_square(counts.tolist(), weights.tolist())
    expected = counts.sum() * weights / weights.sum()
    reference = scipy_stats.chisquare(counts, expected)
    assert result.df == k - 1
    assert result.statistic == pytest.approx(reference.statistic, rel=1e-9)
    assert result.p_value == pytest.approx(reference.pvalue, rel=1e-9)
    assert result.expected_counts == pytest.approx(tuple(expected), rel=1e-12)


def test_chi_square_worked_example_from_the_literature() -> None:
    # Kohavi, Tang & Xu (2020), "Trustworthy Online Controlled Experiments", ch. 3: a 50/50
    # experiment with 821,588 users in control and 815,482 in treatment has an SRM p-value
    # of about 1.8e-6.
    result = srm_chi_square([821_588, 815_482], [0.5, 0.5])
    assert result.p_value == pytest.approx(1.8e-6, rel=0.05)
    assert result.mismatch


@pytest.mark.parametrize("seed", range(4))
def test_sequential_bayes_factor_matches_scipy_distributions(seed: int) -> None:
    # The Bayes factor is the Dirichlet-multinomial likelihood over the multinomial one.
    rng = np.random.default_rng(seed)
    k = int(rng.integers(2, 5))
    weights = rng.uniform(0.5, 2.0, k)
    weights /= weights.sum()
    counts = rng.multinomial(int(rng.integers(50, 20_000)), weights)
    concentration = float(rng.uniform(5.0, 500.0))
    result = sequential_srm(counts.tolist(), weights.tolist(), concentration=concentration)
    n = int(counts.sum())
    expected = scipy_stats.dirichlet_multinomial.logpmf(
        counts, concentration * weights, n
    ) - scipy_stats.multinomial.logpmf(counts, n, weights)
    assert result.log_bayes_factor == pytest.approx(expected, rel=1e-9, abs=1e-9)
    assert result.p_value == pytest.approx(min(1.0, np.exp(-expected)), rel=1e-9)


def test_sequential_test_flags_the_worked_example() -> None:
    result = sequential_srm([821_588, 815_482], [0.5, 0.5])
    assert result.mismatch
    assert result.p_value < 0.001


def test_sequential_test_with_no_users_is_neutral() -> None:
    result = sequential_srm([0, 0, 0], [1, 1, 2])
    assert result.log_bayes_factor == 0.0
    assert result.p_value == 1.0
    assert not result.mismatch


def test_sequential_test_keeps_its_level_when_checked_after_every_batch() -> None:
    alpha, simulations, looks, batch = 0.05, 400, 100, 50
    rng = np.random.default_rng(20240507)
    weights = [0.5, 0.3, 0.2]
    batches = rng.multinomial(batch, weights, size=(simulations, looks))
    running = np.cumsum(batches, axis=1)
    ever_rejected = [
        any(sequential_srm(running[s, t], weights, alpha=alpha).mismatch for t in range(looks))
        for s in range(simulations)
    ]
    chi_square_ever = [
        any(srm_chi_square(running[s, t], weights, alpha=alpha).mismatch for t in range(looks))
        for s in range(simulations)
    ]
    rate, naive = float(np.mean(ever_rejected)), float(np.mean(chi_square_ever))
    print(
        f"SRM false alarms over {looks} looks: sequential {rate:.4f}, "
        f"repeated chi-square {naive:.4f}"
    )
    assert rate <= alpha
    assert naive > 2 * alpha


def test_sequential_test_detects_a_real_mismatch() -> None:
    rng = np.random.default_rng(20240508)
    counts = rng.multinomial(200_000, [0.51, 0.49])
    assert sequential_srm(counts.tolist(), [1, 1]).mismatch


@pytest.mark.parametrize(
    ("counts", "weights", "message"),
    [
        ([10], [1.0], "at least 2"),
        ([10, 12], [1.0, 1.0, 1.0], "one count and one weight"),
        ([10, -1], [1.0, 1.0], "non-negative integers"),
        ([10, 2.5], [1.0, 1.0], "non-negative integers"),
        ([10, 12], [1.0, 0.0], "positive"),
        ([10, 12], [1.0, float("nan")], "positive"),
    ],
)
def test_bad_counts_or_weights_are_refused(
    counts: list[float], weights: list[float], message: str
) -> None:
    with pytest.raises(AnalysisError, match=message):
        srm_chi_square(counts, weights)  # type: ignore[arg-type]
    with pytest.raises(AnalysisError, match=message):
        sequential_srm(counts, weights)  # type: ignore[arg-type]


def test_chi_square_needs_users() -> None:
    with pytest.raises(AnalysisError, match="no users"):
        srm_chi_square([0, 0], [1, 1])


def test_bad_concentration_is_refused() -> None:
    with pytest.raises(AnalysisError, match="concentration"):
        sequential_srm([5, 5], [1, 1], concentration=0.0)
