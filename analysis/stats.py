"""Per-variant sufficient statistics, as the results store delivers them.

For each (experiment, phase, variant, metric) the store keeps sums over users, never the users
themselves: n, Σx, Σx², for the metric x in the experiment, and Σy, Σy², Σxy for the
pre-period covariate y that CUPED uses. A conversion metric is the 0/1 case. Ratio metrics
keep the sums of their numerator and denominator and the cross product.

The sums may be of shifted values, x − a and y − b for references a = `shift_x` and
b = `shift_y` (the store uses a value of the metric itself), so that a large mean does not
swamp the spread (see `analysis.sums`); means add the shift back, variances do not see it.

Variances are sample variances (divisor n − 1). Sums that imply a negative variance or a
correlation outside [−1, 1] beyond float rounding are refused; within rounding they are
clamped, so a variance is never negative and never NaN. A variance lost to rounding raises
instead of reading as 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike

from analysis.errors import AnalysisError
from analysis.inference import check_finite
from analysis.sums import (
    centered_product,
    centered_square,
    check_count,
    lost_to_rounding,
    rebase,
)

__all__ = ["RatioStats", "SampleStats", "check_count"]


def _check_sums(stats: SampleStats | RatioStats, names: tuple[str, ...]) -> None:
    check_count("n", stats.n)
    for name in names:
        check_finite(name, getattr(stats, name))
    if stats.n == 0 and any(getattr(stats, name) for name in names[:-2]):
        raise AnalysisError("inconsistent sums: an empty variant (n = 0) has non-zero sums")


def _require(n: int, needed: int, label: str) -> None:
    if n == 0:
        raise AnalysisError(f"{label}: the variant is empty (n = 0)")
    if n < needed:
        raise AnalysisError(f"{label}: n = {n}, but a variance needs at least {needed} users")


def _centre(n: int, sums: tuple[float, ...], labels: tuple[str, str]) -> tuple:
    """((ss_x, ss_y, sp_xy), the labels whose variance is lost) from the five sums."""
    sum_x, sum_x2, sum_y, sum_y2, sum_xy = sums
    ss_x, lost_x = centered_square(n, sum_x, sum_x2, labels[0])
    ss_y, lost_y = centered_square(n, sum_y, sum_y2, labels[1])
    sp = centered_product(n, (sum_x, sum_y, sum_xy), (ss_x, ss_y), " and ".join(labels))
    lost = frozenset(label for label, flag in zip(labels, (lost_x, lost_y), strict=True) if flag)
    return (ss_x, ss_y, sp), lost


def _values(x: ArrayLike, y: ArrayLike | None, names: str) -> tuple[np.ndarray, np.ndarray]:
    xs = np.asarray(x, dtype=float)
    ys = np.zeros_like(xs) if y is None else np.asarray(y, dtype=float)
    if xs.ndim != 1 or xs.shape != ys.shape:
        raise AnalysisError(f"{names} must be one-dimensional and of the same length")
    return xs, ys


def _shifted_sums(xs: np.ndarray, ys: np.ndarray) -> tuple[float, ...]:
    """The five sums of x − x₀ and y − y₀ and the shifts x₀, y₀ (the first user's values)."""
    a, b = (float(xs[0]), float(ys[0])) if len(xs) else (0.0, 0.0)
    dx, dy = xs - a, ys - b
    return (float(dx.sum()), float(dx @ dx), float(dy.sum()), float(dy @ dy), float(dx @ dy),
            a, b)


@dataclass(frozen=True)
class SampleStats:
    """Sums over the users of one variant of x − shift_x and of its covariate y − shift_y."""

    n: int
    sum_x: float
    sum_x2: float
    sum_y: float = 0.0
    sum_y2: float = 0.0
    sum_xy: float = 0.0
    shift_x: float = 0.0
    shift_y: float = 0.0
    # (Σ(x − x̄)², Σ(y − ȳ)², Σ(x − x̄)(y − ȳ)), derived from the sums at construction.
    _centered: tuple[float, float, float] = field(init=False, repr=False, compare=False)
    _lost: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = ("sum_x", "sum_x2", "sum_y", "sum_y2", "sum_xy", "shift_x", "shift_y")
        _check_sums(self, names)
        # Computed once here so that inconsistent sums fail at construction.
        sums = (self.sum_x, self.sum_x2, self.sum_y, self.sum_y2, self.sum_xy)
        centered, lost = _centre(self.n, sums, ("x", "y"))
        object.__setattr__(self, "_centered", centered)
        object.__setattr__(self, "_lost", lost)

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
        """The sums of per-user values (and covariates, if given), shifted by the first user's."""
        xs, ys = _values(x, y, "x and y")
        return cls(len(xs), *_shifted_sums(xs, ys))

    def rebased(self, shift_x: float, shift_y: float) -> SampleStats:
        """The same users' sums about other references."""
        p, q = shift_x - self.shift_x, shift_y - self.shift_y
        sum_x, sum_x2 = rebase(self.n, self.sum_x, self.sum_x2, p)
        sum_y, sum_y2 = rebase(self.n, self.sum_y, self.sum_y2, q)
        sum_xy = self.sum_xy - q * self.sum_x - p * self.sum_y + self.n * p * q
        return SampleStats(self.n, sum_x, sum_x2, sum_y, sum_y2, sum_xy, shift_x, shift_y)

    def __add__(self, other: SampleStats) -> SampleStats:
        """Sums of two disjoint groups of users (e.g. both arms, for pooled quantities)."""
        o = other.rebased(self.shift_x, self.shift_y)
        return SampleStats(
            self.n + o.n, self.sum_x + o.sum_x, self.sum_x2 + o.sum_x2, self.sum_y + o.sum_y,
            self.sum_y2 + o.sum_y2, self.sum_xy + o.sum_xy, self.shift_x, self.shift_y,
        )

    def _checked(self, index: int, labels: tuple[str, ...]) -> float:
        for label in labels:
            if label in self._lost:
                raise lost_to_rounding("the covariate" if label == "y" else "the metric")
        return self._centered[index]

    @property
    def ss_x(self) -> float:
        """Σ(x − x̄)²."""
        return self._checked(0, ("x",))

    @property
    def ss_y(self) -> float:
        """Σ(y − ȳ)²."""
        return self._checked(1, ("y",))

    @property
    def sp_xy(self) -> float:
        """Σ(x − x̄)(y − ȳ)."""
        return self._checked(2, ("x", "y"))

    @property
    def has_covariate(self) -> bool:
        """Whether y varies measurably: CUPED has nothing to work with otherwise."""
        return self.n > 1 and "y" not in self._lost and self._centered[1] > 0.0

    @property
    def mean(self) -> float:
        _require(self.n, 1, "mean")
        return self.shift_x + self.sum_x / self.n

    @property
    def mean_y(self) -> float:
        _require(self.n, 1, "covariate mean")
        return self.shift_y + self.sum_y / self.n

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
    """Sums over the users of one variant for a ratio metric Σnum / Σden (e.g. clicks/views),
    of num − shift_num and den − shift_den."""

    n: int
    sum_num: float
    sum_num2: float
    sum_den: float
    sum_den2: float
    sum_num_den: float
    shift_num: float = 0.0
    shift_den: float = 0.0
    # (Σ(num − mean)², Σ(den − mean)², Σ(num − mean)(den − mean)), derived at construction.
    _centered: tuple[float, float, float] = field(init=False, repr=False, compare=False)
    _lost: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        names = ("sum_num", "sum_num2", "sum_den", "sum_den2", "sum_num_den", "shift_num",
                 "shift_den")
        _check_sums(self, names)
        sums = (self.sum_num, self.sum_num2, self.sum_den, self.sum_den2, self.sum_num_den)
        centered, lost = _centre(self.n, sums, ("the numerator", "the denominator"))
        object.__setattr__(self, "_centered", centered)
        object.__setattr__(self, "_lost", lost)

    @classmethod
    def from_values(cls, num: ArrayLike, den: ArrayLike) -> RatioStats:
        """The sums of per-user numerators and denominators, shifted by the first user's."""
        nums, dens = _values(num, den, "num and den")
        return cls(len(nums), *_shifted_sums(nums, dens))

    @property
    def mean_den(self) -> float:
        _require(self.n, 1, "ratio")
        return self.shift_den + self.sum_den / self.n

    @property
    def ratio(self) -> float:
        """Σnum / Σden."""
        mean_den = self.mean_den
        if mean_den == 0.0:
            raise AnalysisError("ratio metric undefined: the denominator sums to zero")
        return (self.shift_num + self.sum_num / self.n) / mean_den

    @property
    def linearized_variance(self) -> float:
        """Per-user variance of the ratio's linearization (num − R·den) / mean_den.

        Var(R̂) ≈ this / n by the delta method with the numerator–denominator covariance
        (Deng, Knoblich & Lu 2018, "Applying the Delta Method in Metric Analytics").
        """
        _require(self.n, 2, "ratio variance")
        if self._lost:
            raise lost_to_rounding(" and ".join(sorted(self._lost)))
        ratio, mean_den = self.ratio, self.mean_den
        ss_num, ss_den, sp = self._centered
        ss = max(ss_num - 2.0 * ratio * sp + ratio * ratio * ss_den, 0.0)
        return ss / (self.n - 1) / (mean_den * mean_den)
