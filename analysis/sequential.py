"""Always-valid inference for a difference of means: the normal-mixture confidence sequence.

Method: the two-sided normal-mixture boundary of Howard, Ramdas, McAuliffe & Sekhon (2021),
"Time-uniform, nonparametric, nonasymptotic confidence sequences" (Annals of Statistics),
which is the same test as the mixture SPRT with a normal mixing distribution of Johari,
Koomen, Pekelis & Walsh (2022), "Always valid inference: continuous monitoring of A/B tests"
(Operations Research). With the variances estimated from the data it is the asymptotic
confidence sequence of Waudby-Smith, Arbour, Sinha, Kennedy & Ramdas (2024),
"Time-uniform central limit theory and asymptotic confidence sequences".

For an estimate d̂ with standard error se after N users in total (both arms), z = d̂/se, and
mixture precision ρ (in users), the mixture likelihood ratio against "effect = 0" is

    Λ = sqrt(ρ / (N + ρ)) · exp(N·z² / (2(N + ρ)))

and the always-valid interval at level 1 − α is d̂ ± M·se with

    M = sqrt((N + ρ)/N · (log((N + ρ)/ρ) + 2·log(1/α))).

P(the true effect ever leaves the interval) ≤ α however often the results are read; the
always-valid p-value 1/Λ (capped at 1) is below α exactly when the interval excludes 0.
Both are functions of the current sums only: a caller that keeps history may intersect the
intervals and take the running minimum of the p-values, which stays valid and is tighter.

Tuning: ρ is set from the total sample size the interval should be tightest for, n*:
ρ = n* / (2·log(1/α) + log(1 + 2·log(1/α))), the choice Howard et al. give for minimising the
boundary at n*. The default n* is DEFAULT_TUNING_N = 10,000 users. The width is only
logarithmically sensitive to an n* below the sample (N ≫ ρ: M² ≈ log(N/ρ) + 2·log(1/α)),
but an n* beyond it costs more: once ρ ≫ N, M ≈ √(ρ/N · 2·log(1/α)), so the interval grows
like √(n*/N) — tuning for 100 times the users one has makes it about 10 times wider. An
infinite n* is refused (the interval would be infinitely wide). The mixture assumes the
allocation between arms stays fixed while the experiment runs.

One-sided readings use the same two-sided boundary on their one bound, which is valid
(it crosses on one side no more often than on either) and slightly conservative.
"""

from __future__ import annotations

import math

import numpy as np

from analysis.errors import AnalysisError
from analysis.inference import Alternative, check_alpha

DEFAULT_TUNING_N = 10_000


def mixture_precision(alpha: float, tuning_n: float = DEFAULT_TUNING_N) -> float:
    """ρ, in users, that makes the level-(1 − alpha) boundary tightest at `tuning_n` users."""
    check_alpha(alpha)
    if not (math.isfinite(tuning_n) and tuning_n > 0):
        raise AnalysisError(f"tuning_n must be a positive finite sample size, got {tuning_n!r}")
    two_log = 2.0 * math.log(1.0 / alpha)
    return tuning_n / (two_log + math.log1p(two_log))


def always_valid_multiplier(
    n_total: float | np.ndarray, alpha: float, tuning_n: float = DEFAULT_TUNING_N
) -> float | np.ndarray:
    """M such that estimate ± M·se is the always-valid interval after `n_total` users.

    Accepts numpy arrays, so simulations can evaluate many looks at once.
    """
    rho = mixture_precision(alpha, tuning_n)
    n = np.asarray(n_total, dtype=float)
    if np.any(n <= 0):
        raise AnalysisError("the always-valid interval needs at least one user")
    spread = (n + rho) / n * (np.log1p(n / rho) + 2.0 * math.log(1.0 / alpha))
    result = np.sqrt(spread)
    return float(result) if result.ndim == 0 else result


def always_valid_p_value(
    statistic: float,
    n_total: float,
    alpha: float,
    alternative: Alternative = "two-sided",
    tuning_n: float = DEFAULT_TUNING_N,
) -> float:
    """1/Λ for the z statistic `statistic` after `n_total` users, capped at 1.

    `alpha` only sets the mixture precision ρ (through the tuning above). For a one-sided
    alternative an estimate on the wrong side gets p = 1; otherwise the two-sided value.
    """
    if (alternative == "greater" and statistic <= 0) or (alternative == "less" and statistic >= 0):
        return 1.0
    rho = mixture_precision(alpha, tuning_n)
    if math.isinf(statistic):
        return 0.0
    log_lr = 0.5 * math.log(rho / (n_total + rho)) + n_total * statistic**2 / (
        2.0 * (n_total + rho)
    )
    return math.exp(-log_lr) if log_lr > 0.0 else 1.0
