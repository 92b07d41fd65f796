"""Planning: users per variant for a minimum detectable effect, and the reverse.

The standard two-sample normal approximation with equal allocation (e.g. Chow, Shao & Wang
2008, "Sample Size Calculations in Clinical Research", ch. 3):

    n per variant = (z_{1−α/2} + z_{1−β})² · 2σ² / δ²        (z_{1−α} when one-sided)

δ is the absolute effect (a relative MDE times the baseline), σ² the per-user variance
(baseline·(1 − baseline) for a conversion rate when no variance is given). CUPED enters as
σ² · (1 − r) for a variance reduction r; with a covariate of correlation ρ, r = ρ²
(Deng, Xu, Kohavi & Walker 2013). The two-sided formula ignores the chance of a significant
result in the wrong direction, as is customary (it changes n by far less than one user
at usual powers).
"""

from __future__ import annotations

import math

from scipy import special

from analysis.errors import AnalysisError
from analysis.inference import Alternative, check_alpha, check_alternative
from analysis.stats import check_count


def _z_sum(alpha: float, power: float, alternative: Alternative) -> float:
    """z_{1−α(/2)} + z_{power}."""
    check_alpha(alpha)
    check_alpha(power, "power")
    check_alternative(alternative)
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    total = float(special.ndtri(1.0 - tail) + special.ndtri(power))
    if total <= 0.0:
        raise AnalysisError(f"power ({power}) must exceed the test's level ({tail})")
    return total


def _variance(variance: float | None, baseline: float | None, variance_reduction: float) -> float:
    """Per-user variance after CUPED; a conversion rate's when none is given."""
    if not 0.0 <= variance_reduction < 1.0:
        raise AnalysisError(f"variance_reduction must be in [0, 1), got {variance_reduction!r}")
    if variance is None:
        if baseline is None or not 0.0 < baseline < 1.0:
            raise AnalysisError(
                "without a variance, baseline must be a conversion rate strictly in (0, 1)"
            )
        variance = baseline * (1.0 - baseline)
    if not (math.isfinite(variance) and variance > 0.0):
        raise AnalysisError(f"variance must be a positive finite number, got {variance!r}")
    return variance * (1.0 - variance_reduction)


def _scale(baseline: float | None, relative: bool) -> float:
    """What turns a relative effect into an absolute one (1 for absolute effects)."""
    if not relative:
        return 1.0
    if baseline is None or not math.isfinite(baseline) or baseline == 0.0:
        raise AnalysisError("a relative effect needs a finite, non-zero baseline")
    return abs(baseline)


def mde(
    n_per_variant: int,
    *,
    baseline: float | None = None,
    variance: float | None = None,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
    variance_reduction: float = 0.0,
) -> float:
    """Minimum detectable effect with `n_per_variant` users in each of two variants.

    Relative to `baseline` (0.05 = 5 %) unless `relative` is False.
    """
    check_count("n_per_variant", n_per_variant)
    if n_per_variant < 2:
        raise AnalysisError(f"n_per_variant must be an integer >= 2, got {n_per_variant!r}")
    sigma2 = _variance(variance, baseline, variance_reduction)
    delta = _z_sum(alpha, power, alternative) * math.sqrt(2.0 * sigma2 / n_per_variant)
    return delta / _scale(baseline, relative)


def sample_size(
    mde: float,
    *,
    baseline: float | None = None,
    variance: float | None = None,
    relative: bool = True,
    alpha: float = 0.05,
    power: float = 0.8,
    alternative: Alternative = "two-sided",
    variance_reduction: float = 0.0,
) -> int:
    """Users per variant (equal allocation, two variants) to detect an effect of size `mde`.

    `mde` is relative to `baseline` (0.05 = 5 %) unless `relative` is False; its sign does
    not matter. The smallest integer n whose `mde(n)` is at most the requested effect.
    """
    if not (math.isfinite(mde) and mde != 0.0):
        raise AnalysisError(f"mde must be a finite, non-zero effect, got {mde!r}")
    sigma2 = _variance(variance, baseline, variance_reduction)
    delta = abs(mde) * _scale(baseline, relative)
    exact = _z_sum(alpha, power, alternative) ** 2 * 2.0 * sigma2 / (delta * delta)
    # The relative slack keeps a float like 1570.0000000002 from costing a whole user.
    return max(2, math.ceil(exact * (1.0 - 1e-12)))
