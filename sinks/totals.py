"""Per-variant totals of `user_metrics`: the sufficient statistics every result needs.

For each (experiment, phase, variant, metric) — overall, or per value of one
configured dimension — `variant_totals` returns n and the sums Σx, Σx², Σy, Σy²,
Σxy of the metric value x and its pre-exposure covariate y, and for ratio
metrics Σd, Σd², Σxd of the denominator d. Only each user's highest version
counts (FINAL), so writing a batch twice or replaying the facts changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from sinks.base import Sink

TOTALS_SQL = """
SELECT experiment, phase, variant, metric, {slice} AS slice, count() AS n,
       sum(value), sum(value * value), sum(covariate), sum(covariate * covariate),
       sum(value * covariate), sum(denominator), sum(denominator * denominator),
       sum(value * denominator), max(first_exposure_ms)
FROM {database}.user_metrics FINAL
WHERE experiment = %(experiment)s
GROUP BY experiment, phase, variant, metric, slice
ORDER BY phase, variant, metric, slice
"""
# A user without the dimension's attribute falls in the slice "" (index 0 is the default).
_SLICE = "dimension_values[indexOf(dimension_names, %(dimension)s)]"


@dataclass(frozen=True)
class VariantTotals:
    experiment: str
    phase: int
    variant: str
    metric: str
    slice: str  # the dimension's value; "" overall
    n: int
    sum_x: float
    sum_x2: float
    sum_y: float
    sum_y2: float
    sum_xy: float
    sum_d: float
    sum_d2: float
    sum_xd: float
    newest_exposure_ms: int  # the latest first exposure counted: how fresh the data is


def variant_totals(sink: Sink, experiment: str,
                   dimension: str | None = None) -> list[VariantTotals]:
    sql = TOTALS_SQL.format(database=sink.database, slice=_SLICE if dimension else "''")
    params = {"experiment": experiment, **({"dimension": dimension} if dimension else {})}
    return [VariantTotals(row[0], int(row[1]), row[2], row[3], row[4], int(row[5]),
                          *(float(value) for value in row[6:14]), int(row[14]))
            for row in sink.query(sql, params)]


EXPOSED_SQL = """
SELECT variant, uniqExact(user_id)
FROM {database}.user_metrics FINAL
WHERE experiment = %(experiment)s AND phase = %(phase)s
GROUP BY variant
"""


def exposed_users(sink: Sink, experiment: str, phase: int) -> dict[str, int]:
    """Users per variant with a fact in the experiment's phase."""
    rows = sink.query(EXPOSED_SQL.format(database=sink.database),
                      {"experiment": experiment, "phase": phase})
    return {variant: int(n) for variant, n in rows}


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
