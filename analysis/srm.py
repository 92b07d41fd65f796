"""Sample ratio mismatch: do the variants' user counts match the configured allocation?

- `srm_chi_square`: Pearson's chi-square goodness-of-fit test, for one look at the counts.
- `sequential_srm`: the anytime-valid multinomial test of Lindon & Malek (2022),
  "Anytime-Valid Inference For Multinomial Count Data" (NeurIPS). Under the null the counts
  are multinomial with the design weights p; the alternative puts a Dirichlet(k·p) prior on
  the weights. The Bayes factor

      BF = [B(k·p + x) / B(k·p)] / Π p_i^{x_i}        (B: the multivariate Beta function)

  is a nonnegative martingale under the null, so by Ville's inequality the test that rejects
  once BF ≥ 1/α has type I error ≤ α however often it is evaluated, and min(1, 1/BF) is an
  anytime-valid p-value. The concentration k sets how far from the design the prior looks:
  the prior standard deviation of a 50 % share is 0.5/√(k + 1). The default k = 1000 (about
  1.6 %) suits the mismatches that matter in practice, shares off by a fraction of a percent
  to a few percent on tens of thousands of users or more; a smaller k reacts sooner to gross
  mismatches on little traffic, a larger one to tiny mismatches on very large traffic.

SRM checks run on every refresh of every experiment, so their default level is strict (0.001).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import special

from analysis.errors import AnalysisError
from analysis.inference import check_alpha

DEFAULT_SRM_ALPHA = 0.001
DEFAULT_CONCENTRATION = 1000.0


@dataclass(frozen=True)
class SrmTest:
    """Pearson's chi-square test of the counts against the design weights."""

    statistic: float
    df: int
    p_value: float
    expected_counts: tuple[float, ...]
    alpha: float
    mismatch: bool


@dataclass(frozen=True)
class SequentialSrm:
    """The anytime-valid multinomial test of the counts against the design weights."""

    log_bayes_factor: float
    p_value: float
    alpha: float
    mismatch: bool


def _counts_and_weights(
    observed_counts: Sequence[int], expected_weights: Sequence[float]
) -> tuple[np.ndarray, np.ndarray]:
    counts = np.asarray(observed_counts, dtype=float)
    weights = np.asarray(expected_weights, dtype=float)
    if counts.ndim != 1 or counts.shape != weights.shape or len(counts) < 2:
        raise AnalysisError("need one count and one weight per variant, for at least 2 variants")
    if not np.all(np.isfinite(counts) & (counts >= 0) & (counts == np.round(counts))):
        raise AnalysisError("observed counts must be non-negative integers")
    if not np.all(np.isfinite(weights) & (weights > 0)):
        raise AnalysisError("expected weights must be positive finite numbers")
    return counts, weights / weights.sum()


def srm_chi_square(
    observed_counts: Sequence[int],
    expected_weights: Sequence[float],
    *,
    alpha: float = DEFAULT_SRM_ALPHA,
) -> SrmTest:
    """Chi-square goodness of fit of user counts per variant to the allocation weights."""
    check_alpha(alpha)
    counts, weights = _counts_and_weights(observed_counts, expected_weights)
    total = counts.sum()
    if total == 0:
        raise AnalysisError("no users yet: a chi-square test needs at least one")
    expected = total * weights
    statistic = float(np.sum((counts - expected) ** 2 / expected))
    df = len(counts) - 1
    p_value = float(special.chdtrc(df, statistic))
    return SrmTest(statistic, df, p_value, tuple(expected.tolist()), alpha, p_value < alpha)


def sequential_srm(
    observed_counts: Sequence[int],
    expected_weights: Sequence[float],
    *,
    alpha: float = DEFAULT_SRM_ALPHA,
    concentration: float = DEFAULT_CONCENTRATION,
) -> SequentialSrm:
    """Anytime-valid SRM test (Lindon & Malek 2022); safe to evaluate after every user.

    With no users yet the Bayes factor is 1 (p = 1). A caller that keeps history may take the
    running minimum of the p-values.
    """
    check_alpha(alpha)
    if not (math.isfinite(concentration) and concentration > 0):
        raise AnalysisError(f"concentration must be a positive number, got {concentration!r}")
    counts, weights = _counts_and_weights(observed_counts, expected_weights)
    prior = concentration * weights
    log_marginal = (
        special.gammaln(concentration)
        - special.gammaln(concentration + counts.sum())
        + np.sum(special.gammaln(prior + counts) - special.gammaln(prior))
    )
    log_null = float(np.sum(counts * np.log(weights)))
    log_bf = float(log_marginal) - log_null
    p_value = 1.0 if log_bf <= 0.0 else math.exp(-log_bf)
    return SequentialSrm(log_bf, p_value, alpha, log_bf >= math.log(1.0 / alpha))
