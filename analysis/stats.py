"""Per-variant sufficient statistics, as the results store delivers them.

For each (experiment, phase, variant, metric) the store keeps sums over users, never the users
themselves: n, Σx, Σx² for the metric x in the experiment, and Σy, Σy², Σxy for the
pre-period covariate y that CUPED uses. A conversion metric is the 0/1 case (Σx² = Σx).
Ratio metrics keep the sums of their numerator and denominator and the cross product.

Variances are sample variances (divisor n − 1). Sums that imply a negative variance or a
correlation outside [−1, 1] beyond float rounding are refused; within rounding they are
clamped, so a variance is never negative and never NaN.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from numbers import Integral

import numpy as np
from numpy.typing import ArrayLike

from analysis.errors import AnalysisError
from analysis.inference import check_finite

# Relative slack for sums accumulated in floating point by the store (≈ n·eps for n ≤ 1e7).
ROUNDING_TOLERANCE = 1e-8


def check_count(name: str, n: object) -> None:
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
        raise AnalysisError(f"{name} must be a non-negative integer count, got {n!r}")


def centered_square(n: int, sum_x: float, sum_x2: float, label: str) -> float:
    """Σ(x − x̄)² from the raw sums; refuses sums no real data could produce."""
    if n == 0:
        return 0.0
    raw = sum_x * sum_x / n
    centered = sum_x2 - raw
    if centered < -ROUNDING_TOLERANCE * max(abs(sum_x2), raw):
        raise AnalysisError(
            f"inconsistent sums for {label}: Σx² = {sum_x2!r} is below (Σx)²/n = {raw!r}"
        )
    return max(centered, 0.0)


def centered_product(
    n: int, sums: tuple[float, float, float], squares: tuple[float, float], label: str
) -> float:
    """Σ(x − x̄)(y − ȳ) from (Σx, Σy, Σxy) and the centered squares; checks Cauchy–Schwarz."""
    if n == 0:
        return 0.0
    sum_x, sum_y, sum_xy = sums
    centered = sum_xy - sum_x * sum_y / n
    bound = math.sqrt(squares[0] * squares[1])
    if abs(centered) > bound + ROUNDING_TOLERANCE * (abs(sum_xy) + abs(sum_x * sum_y) / n):
        raise AnalysisError(
            f"inconsistent sums for {label}: the cross product implies a correlation beyond ±1"
        )
    return max(-bound, min(centered, bound))


def _check_sums(stats: SampleStats | RatioStats, names: tuple[str, ...]) -> None:
    check_count("n", stats.n)
    for name in names:
        check_finite(name, getattr(stats, name))
    if stats.n == 0 and any(getattr(stats, name) for name in names):
        raise AnalysisError("inconsistent sums: an empty variant (n = 0) has non-zero sums")


def _require(n: int, needed: int, label: str) -> None:
    if n == 0:
        raise AnalysisError(f"{label}: the variant is empty (n = 0)")
    if n < needed:
        raise AnalysisError(f"{label}: n = {n}, but a variance needs at least {needed} users")


@dataclass(frozen=True)
class SampleStats:
    """Sums over the users of one variant for a per-user metric x and its covariate y."""

    n: int
    sum_x: float
    sum_x2: float
    sum_y: float = 0.0
    sum_y2: float = 0.0
    sum_xy: float = 0.0
    # (Σ(x − x̄)², Σ(y − ȳ)², Σ(x − x̄)(y − ȳ)), derived from the sums at construction.
    _centered: tuple[float, float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_sums(self, ("sum_x", "sum_x2", "sum_y", "sum_y2", "sum_xy"))
        # Computed once here so that inconsistent sums fail at construction.
        ss_x = centered_square(self.n, self.sum_x, self.sum_x2, "x")
        ss_y = centered_square(self.n, self.sum_y, self.sum_y2, "y")
        sp_xy = centered_product(
            self.n, (self.sum_x, self.sum_y, self.sum_xy), (ss_x, ss_y), "x and y"
        )
        object.__setattr__(self, "_centered", (ss_x, ss_y, sp_xy))

    @classmethod
    def from_conversions(cls, n: int, conversions: int) -> SampleStats:
        """A 0/1 metric: `conversions` of `n` users converted."""
        check_count("n", n)
        check_count("conversions", conversions)
        if conversions > n:
            raise AnalysisError(f"conversions ({conversions}) exceed users (n = {n})")
        return cls(n, float(conversions), float(conversions))

    @classmethod
    def from_values(cls, x: ArrayLike, y: ArrayLike | None = None) -> SampleStats:
        """The sums of per-user values (and covariates, if given)."""
        xs = np.asarray(x, dtype=float)
        ys = np.zeros_like(xs) if y is None else np.asarray(y, dtype=float)
        if xs.ndim != 1 or xs.shape != ys.shape:
            raise AnalysisError("x and y must be one-dimensional and of the same length")
        return cls(
            len(xs),
            float(xs.sum()),
            float(xs @ xs),
            float(ys.sum()),
            float(ys @ ys),
            float(xs @ ys),
        )

    def __add__(self, other: SampleStats) -> SampleStats:
        """Sums of two disjoint groups of users (e.g. both arms, for pooled quantities)."""
        return SampleStats(
            self.n + other.n,
            self.sum_x + other.sum_x,
            self.sum_x2 + other.sum_x2,
            self.sum_y + other.sum_y,
            self.sum_y2 + other.sum_y2,
            self.sum_xy + other.sum_xy,
        )

    @property
    def ss_x(self) -> float:
        """Σ(x − x̄)²."""
        return self._centered[0]

    @property
    def ss_y(self) -> float:
        """Σ(y − ȳ)²."""
        return self._centered[1]

    @property
    def sp_xy(self) -> float:
        """Σ(x − x̄)(y − ȳ)."""
        return self._centered[2]

    @property
    def mean(self) -> float:
        _require(self.n, 1, "mean")
        return self.sum_x / self.n

    @property
    def mean_y(self) -> float:
        _require(self.n, 1, "covariate mean")
        return self.sum_y / self.n

    @property
    def variance(self) -> float:
        _require(self.n, 2, "variance")
        return self.ss_x / (self.n - 1)

    @property
    def variance_y(self) -> float:
        _require(self.n, 2, "covariate variance")
        return self.ss_y / (self.n - 1)

    @property
    def covariance(self) -> float:
        """Sample covariance of x and the covariate y."""
        _require(self.n, 2, "covariance")
        return self.sp_xy / (self.n - 1)


@dataclass(frozen=True)
class RatioStats:
    """Sums over the users of one variant for a ratio metric Σnum / Σden (e.g. clicks/views)."""

    n: int
    sum_num: float
    sum_num2: float
    sum_den: float
    sum_den2: float
    sum_num_den: float
    # (Σ(num − mean)², Σ(den − mean)², Σ(num − mean)(den − mean)), derived at construction.
    _centered: tuple[float, float, float] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        _check_sums(self, ("sum_num", "sum_num2", "sum_den", "sum_den2", "sum_num_den"))
        ss_num = centered_square(self.n, self.sum_num, self.sum_num2, "the numerator")
        ss_den = centered_square(self.n, self.sum_den, self.sum_den2, "the denominator")
        sp = centered_product(
            self.n,
            (self.sum_num, self.sum_den, self.sum_num_den),
            (ss_num, ss_den),
            "numerator and denominator",
        )
        object.__setattr__(self, "_centered", (ss_num, ss_den, sp))

    @classmethod
    def from_values(cls, num: ArrayLike, den: ArrayLike) -> RatioStats:
        """The sums of per-user numerators and denominators."""
        nums = np.asarray(num, dtype=float)
        dens = np.asarray(den, dtype=float)
        if nums.ndim != 1 or nums.shape != dens.shape:
            raise AnalysisError("num and den must be one-dimensional and of the same length")
        return cls(
            len(nums),
            float(nums.sum()),
            float(nums @ nums),
            float(dens.sum()),
            float(dens @ dens),
            float(nums @ dens),
        )

    @property
    def ratio(self) -> float:
        """Σnum / Σden."""
        _require(self.n, 1, "ratio")
        if self.sum_den == 0.0:
            raise AnalysisError("ratio metric undefined: the denominator sums to zero")
        return self.sum_num / self.sum_den

    @property
    def linearized_variance(self) -> float:
        """Per-user variance of the ratio's linearization (num − R·den) / mean_den.

        Var(R̂) ≈ this / n by the delta method with the numerator–denominator covariance
        (Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics").
        """
        _require(self.n, 2, "ratio variance")
        ratio = self.ratio
        mean_den = self.sum_den / self.n
        ss_num, ss_den, sp = self._centered
        ss = max(ss_num - 2.0 * ratio * sp + ratio * ratio * ss_den, 0.0)
        return ss / (self.n - 1) / (mean_den * mean_den)
