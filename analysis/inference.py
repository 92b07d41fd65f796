"""What the comparisons share: intervals, tail probabilities, critical values, argument checks.

Student-t and normal tails come from `scipy.special` (stdtr, ndtr and their inverses) rather
than `scipy.stats` objects: the same numerics, without the per-call overhead that matters when
a results page compares many metrics × variants.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from numbers import Real
from typing import Literal, get_args

from scipy import special

from analysis.errors import AnalysisError

# "greater": the treatment's value exceeds the control's; "less": the reverse.
Alternative = Literal["two-sided", "greater", "less"]
ALTERNATIVES: tuple[str, ...] = get_args(Alternative)


@dataclass(frozen=True)
class Interval:
    """A confidence interval; a one-sided interval has one infinite end."""

    lower: float
    upper: float

    @property
    def width(self) -> float:
        return self.upper - self.lower

    def contains(self, value: float) -> bool:
        return self.lower <= value <= self.upper


def check_alpha(alpha: float, name: str = "alpha") -> None:
    if not (isinstance(alpha, Real) and 0.0 < alpha < 1.0):
        raise AnalysisError(f"{name} must be a number strictly between 0 and 1, got {alpha!r}")


def check_alternative(alternative: str) -> None:
    if alternative not in ALTERNATIVES:
        raise AnalysisError(
            f"alternative must be one of {', '.join(ALTERNATIVES)}; got {alternative!r}"
        )


def check_finite(name: str, value: float) -> None:
    if not (isinstance(value, Real) and math.isfinite(value)):
        raise AnalysisError(f"{name} must be a finite number, got {value!r}")


def _cdf(statistic: float, df: float) -> float:
    """Student-t distribution function; df = inf is the standard normal."""
    if math.isinf(df):
        return float(special.ndtr(statistic))
    return float(special.stdtr(df, statistic))


def _quantile(probability: float, df: float) -> float:
    if math.isinf(df):
        return float(special.ndtri(probability))
    return float(special.stdtrit(df, probability))


def p_value(statistic: float, df: float, alternative: Alternative) -> float:
    """P-value of a t statistic with `df` degrees of freedom (df = inf: a z statistic)."""
    if alternative == "greater":
        return _cdf(-statistic, df)
    if alternative == "less":
        return _cdf(statistic, df)
    return min(1.0, 2.0 * _cdf(-abs(statistic), df))


def critical_value(alpha: float, df: float, alternative: Alternative) -> float:
    """The quantile an interval of level 1 − alpha for `alternative` stretches to."""
    tail = alpha / 2.0 if alternative == "two-sided" else alpha
    return _quantile(1.0 - tail, df)


def interval(
    estimate: float, std_error: float, critical: float, alternative: Alternative
) -> Interval:
    """estimate ± critical·std_error, open on the side `alternative` does not bound."""
    half_width = critical * std_error
    lower = -math.inf if alternative == "less" else estimate - half_width
    upper = math.inf if alternative == "greater" else estimate + half_width
    return Interval(lower, upper)


def ratio_statistic(estimate: float, std_error: float) -> float:
    """estimate / std_error, defined at zero standard error.

    A zero-variance estimate of exactly 0 is no evidence at all (statistic 0); any other
    zero-variance estimate is certain (statistic ±inf), so its p-value is 0 or 1.
    """
    if std_error > 0.0:
        return estimate / std_error
    if estimate == 0.0:
        return 0.0
    return math.copysign(math.inf, estimate)
