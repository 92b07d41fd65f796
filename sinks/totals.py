"""Per-variant totals of `user_metrics`: the sufficient statistics every result needs.

For each (experiment, phase, variant, metric) — overall, or per value of one
configured dimension — `variant_totals` returns n and the sums Σx, Σx², Σy, Σy²,
Σxy of the metric value x and its pre-exposure covariate y, and for ratio
metrics Σd, Σd², Σxd of the denominator d. Rows are keyed by (experiment, phase,
metric, user_id), not by variant, and only each key's highest version counts
(FINAL): writing a batch twice or replaying the facts changes nothing, and a user
whose first exposure turned out to be of another variant is counted once, in the
variant of the newest row (the earliest exposure's).

The sums are of shifted values, x − a, y − b and d − c, where the references a,
b, c are one user's values of that phase and metric (`any` over its rows, the
same for every variant and slice). Σx² − (Σx)²/n on raw sums loses every digit
when the mean is large next to the spread (values near 1e8 with sd 1); about a
reference inside the data it keeps them, on ClickHouse 18.16 as on chDB. A
reference that is one of the values also keeps integer data integer, so counts
and conversions stay exact. `sum_x` … `sum_xd` give the unshifted sums back, for
comparing the store with exact totals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sinks.base import Sink

TOTALS_SQL = """
SELECT experiment, phase, variant, metric, {slice} AS slice, count() AS n,
       sum(value - ref_x), sum((value - ref_x) * (value - ref_x)),
       sum(covariate - ref_y), sum((covariate - ref_y) * (covariate - ref_y)),
       sum((value - ref_x) * (covariate - ref_y)),
       sum(denominator - ref_d), sum((denominator - ref_d) * (denominator - ref_d)),
       sum((value - ref_x) * (denominator - ref_d)),
       max(first_exposure_ms), any(ref_x), any(ref_y), any(ref_d), min(first_exposure_ms)
FROM {database}.user_metrics FINAL
ANY LEFT JOIN (
    SELECT phase, metric, any(value) AS ref_x, any(covariate) AS ref_y,
           any(denominator) AS ref_d
    FROM {database}.user_metrics
    WHERE experiment = %(experiment)s
    GROUP BY phase, metric
) AS refs USING (phase, metric)
WHERE experiment = %(experiment)s
GROUP BY experiment, phase, variant, metric, slice
ORDER BY phase, variant, metric, slice
"""
# A user without the dimension's attribute falls in the slice "" (index 0 is the default).
_SLICE = "dimension_values[indexOf(dimension_names, %(dimension)s)]"


@dataclass(frozen=True)
class VariantTotals:
    """Sums over users of x − shift_x, y − shift_y and d − shift_d (see the module's doc)."""

    experiment: str
    phase: int
    variant: str
    metric: str
    slice: str  # the dimension's value; "" overall
    n: int
    shifted_x: float
    shifted_x2: float
    shifted_y: float
    shifted_y2: float
    shifted_xy: float
    shifted_d: float
    shifted_d2: float
    shifted_xd: float
    newest_exposure_ms: int  # the latest first exposure counted: how fresh the data is
    shift_x: float = 0.0
    shift_y: float = 0.0
    shift_d: float = 0.0
    oldest_exposure_ms: int = 0  # the earliest first exposure counted: since when it runs

    @property
    def sum_x(self) -> float:
        return self.shifted_x + self.n * self.shift_x

    @property
    def sum_y(self) -> float:
        return self.shifted_y + self.n * self.shift_y

    @property
    def sum_d(self) -> float:
        return self.shifted_d + self.n * self.shift_d

    @property
    def sum_x2(self) -> float:
        return self._raw_product(self.shifted_x2, self.shifted_x, self.shifted_x,
                                 self.shift_x, self.shift_x)

    @property
    def sum_y2(self) -> float:
        return self._raw_product(self.shifted_y2, self.shifted_y, self.shifted_y,
                                 self.shift_y, self.shift_y)

    @property
    def sum_d2(self) -> float:
        return self._raw_product(self.shifted_d2, self.shifted_d, self.shifted_d,
                                 self.shift_d, self.shift_d)

    @property
    def sum_xy(self) -> float:
        return self._raw_product(self.shifted_xy, self.shifted_x, self.shifted_y,
                                 self.shift_x, self.shift_y)

    @property
    def sum_xd(self) -> float:
        return self._raw_product(self.shifted_xd, self.shifted_x, self.shifted_d,
                                 self.shift_x, self.shift_d)

    def _raw_product(self, shifted_uv: float, shifted_u: float, shifted_v: float,
                     a: float, b: float) -> float:
        """Σuv from Σ(u − a)(v − b), Σ(u − a) and Σ(v − b)."""
        return shifted_uv + b * shifted_u + a * shifted_v + self.n * a * b


def variant_totals(sink: Sink, experiment: str,
                   dimension: str | None = None) -> list[VariantTotals]:
    params = {"experiment": experiment, **({"dimension": dimension} if dimension else {})}
    return sliced_totals(sink, _SLICE if dimension else "''", params)


def sliced_totals(sink: Sink, slice_sql: str, params: dict[str, Any]) -> list[VariantTotals]:
    """`variant_totals` with each row's slice given by `slice_sql`, an SQL expression over
    a user_metrics row (its parameters in `params`, beside the experiment)."""
    sql = TOTALS_SQL.format(database=sink.database, slice=slice_sql)
    return [VariantTotals(row[0], int(row[1]), row[2], row[3], row[4], int(row[5]),
                          *(float(value) for value in row[6:14]), int(row[14]),
                          *(float(value) for value in row[15:18]), int(row[18]))
            for row in sink.query(sql, params)]


# Each user once, in the variant and slice of their newest row (of any metric).
EXPOSED_SQL = """
SELECT slice, variant, count()
FROM (
    SELECT user_id, argMax({slice}, version) AS slice, argMax(variant, version) AS variant
    FROM {database}.user_metrics
    WHERE experiment = %(experiment)s AND phase = %(phase)s
    GROUP BY user_id
)
GROUP BY slice, variant
"""


def exposed_users_by_slice(sink: Sink, experiment: str, phase: int,
                           dimension: str | None = None) -> dict[str, dict[str, int]]:
    """Users per slice and variant with a fact in the experiment's phase, each once, as
    their newest row says: the one count SRM is judged on (`analysis.srm_check`)."""
    params = {"experiment": experiment, "phase": phase,
              **({"dimension": dimension} if dimension else {})}
    return sliced_exposed_users(sink, _SLICE if dimension else "''", params)


def sliced_exposed_users(sink: Sink, slice_sql: str,
                         params: dict[str, Any]) -> dict[str, dict[str, int]]:
    """`exposed_users_by_slice` with each user's slice given by `slice_sql`."""
    sql = EXPOSED_SQL.format(database=sink.database, slice=slice_sql)
    found: dict[str, dict[str, int]] = {}
    for slice_, variant, n in sink.query(sql, params):
        found.setdefault(slice_, {})[variant] = int(n)
    return found


def exposed_users(sink: Sink, experiment: str, phase: int) -> dict[str, int]:
    """Users per variant with a fact in the experiment's phase."""
    return exposed_users_by_slice(sink, experiment, phase).get("", {})


MISMATCHED_SQL = """
SELECT uniqExact(user_id)
FROM {database}.exposures_raw
WHERE experiment = %(experiment)s AND phase = %(phase)s AND mismatched = 1
"""


def mismatched_users(sink: Sink, experiment: str, phase: int) -> int:
    """Users with an exposure of the phase whose variant the config does not assign them."""
    rows = sink.query(MISMATCHED_SQL.format(database=sink.database),
                      {"experiment": experiment, "phase": phase})
    return int(rows[0][0]) if rows else 0


MULTIPLE_SQL = """
SELECT count()
FROM (
    SELECT user_id, argMax(multiple_exposures, version) AS multiple
    FROM {database}.user_metrics
    WHERE experiment = %(experiment)s AND phase = %(phase)s
    GROUP BY user_id
)
WHERE multiple = 1
"""


def multiple_exposure_users(sink: Sink, experiment: str, phase: int) -> int:
    """Users of the phase exposed to more than one variant: each is counted once, in the
    variant of their earliest exposure."""
    rows = sink.query(MULTIPLE_SQL.format(database=sink.database),
                      {"experiment": experiment, "phase": phase})
    return int(rows[0][0]) if rows else 0
