"""Centring the store's sums: Σ(x − x̄)² and Σ(x − x̄)(y − ȳ) from n, Σx, Σx², Σxy.

Σx² − (Σx)²/n subtracts two nearly equal numbers when the mean is large next to the spread:
values near 1e8 with sd 1 lose all sixteen digits. The store therefore sums x − a for a
reference value a near the data (`sinks.totals`), and these helpers work on such shifted
sums. A centred square that is within rounding slack of 0 although the sums are not those
of equal values is flagged as lost: no variance, and so no p-value, can come from it.
"""

from __future__ import annotations

import math
from numbers import Integral

from analysis.errors import AnalysisError

# Relative slack for sums accumulated in floating point by the store (≈ n·eps for n ≤ 1e7).
ROUNDING_TOLERANCE = 1e-8
_EXACT_INTEGERS = 2.0**53  # below this, sums of integers are exact in float64


def check_count(name: str, n: object) -> None:
    if isinstance(n, bool) or not isinstance(n, Integral) or n < 0:
        raise AnalysisError(f"{name} must be a non-negative integer count, got {n!r}")


def _exact_zero(n: int, sum_x: float, sum_x2: float) -> bool:
    """Integer sums small enough to be exact: a zero centred square is then a true zero."""
    return (sum_x.is_integer() and sum_x2.is_integer() and n * abs(sum_x2) < _EXACT_INTEGERS
            and sum_x * sum_x == n * sum_x2)


def centered_square(n: int, sum_x: float, sum_x2: float, label: str) -> tuple[float, bool]:
    """(Σ(x − x̄)², lost) from the (shifted) sums; refuses sums no real data could produce."""
    if n == 0:
        return 0.0, False
    raw = sum_x * sum_x / n
    centered = sum_x2 - raw
    if centered < -ROUNDING_TOLERANCE * max(abs(sum_x2), raw):
        raise AnalysisError(
            f"inconsistent sums for {label}: Σx² = {sum_x2!r} is below (Σx)²/n = {raw!r}"
        )
    lost = centered <= ROUNDING_TOLERANCE * sum_x2 and sum_x2 > 0.0
    return max(centered, 0.0), lost and not _exact_zero(n, sum_x, sum_x2)


def centered_product(
    n: int, sums: tuple[float, float, float], squares: tuple[float, float], label: str
) -> float:
    """Σ(x − x̄)(y − ȳ) from (Σx, Σy, Σxy) and the centred squares; checks Cauchy–Schwarz."""
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


def lost_to_rounding(label: str) -> AnalysisError:
    return AnalysisError(
        f"the variance of {label} is lost to rounding: its values vary by less than the sums' "
        "precision (sum values minus a reference near them)"
    )


def rebase(n: int, sum_x: float, sum_x2: float, by: float) -> tuple[float, float]:
    """Sums of x − a turned into sums of x − (a + by)."""
    return sum_x - n * by, sum_x2 - 2.0 * by * sum_x + n * by * by
