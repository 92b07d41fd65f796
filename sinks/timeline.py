"""Cumulative totals by the hour or day of users' first exposure: results over time.

A user counts from the bucket of their first exposure on, with the metric values the
store holds now, as cumulative results charts usually do: the totals at a bucket are
those of the users first exposed before its end. The shifted sums of one phase and
metric share their reference (`sinks.totals`), so cumulating them is adding them.
"""

from __future__ import annotations

from dataclasses import replace

from sinks.base import Sink
from sinks.totals import VariantTotals, sliced_exposed_users, sliced_totals

BUCKET_MS = {"hour": 3_600_000, "day": 86_400_000}
_BUCKET_SQL = "toString(intDiv(first_exposure_ms, %(bucket_ms)s))"


def cumulative_totals(
    sink: Sink, experiment: str, phase: int, bucket_ms: int,
) -> tuple[list[VariantTotals], dict[str, dict[str, int]]]:
    """Totals and exposed users per bucket, each summed over that bucket and the ones before.

    Slices are named by the bucket's end in milliseconds since the epoch, as text.
    """
    params = {"experiment": experiment, "phase": phase, "bucket_ms": bucket_ms}
    rows = [t for t in sliced_totals(sink, _BUCKET_SQL, params) if t.phase == phase]
    exposed = sliced_exposed_users(sink, _BUCKET_SQL, params)
    return cumulate(rows, exposed, bucket_ms)


def cumulate(rows: list[VariantTotals], exposed: dict[str, dict[str, int]], bucket_ms: int,
             ) -> tuple[list[VariantTotals], dict[str, dict[str, int]]]:
    """Per-bucket totals and exposures made running sums (pure)."""
    buckets = sorted({int(r.slice) for r in rows} | {int(s) for s in exposed if s})
    by_bucket: dict[int, list[VariantTotals]] = {}
    for row in rows:
        by_bucket.setdefault(int(row.slice), []).append(row)
    running: dict[tuple[str, str], VariantTotals] = {}
    seen: dict[str, int] = {}
    totals, exposures = [], {}
    for bucket in buckets:
        name = str((bucket + 1) * bucket_ms)
        for row in by_bucket.get(bucket, []):
            key = (row.variant, row.metric)
            running[key] = _add(running[key], row) if key in running else row
        for variant, n in exposed.get(str(bucket), {}).items():
            seen[variant] = seen.get(variant, 0) + n
        totals.extend(replace(row, slice=name) for row in running.values())
        exposures[name] = dict(seen)
    return totals, exposures


def _add(a: VariantTotals, b: VariantTotals) -> VariantTotals:
    return replace(
        a, n=a.n + b.n, shifted_x=a.shifted_x + b.shifted_x,
        shifted_x2=a.shifted_x2 + b.shifted_x2, shifted_y=a.shifted_y + b.shifted_y,
        shifted_y2=a.shifted_y2 + b.shifted_y2, shifted_xy=a.shifted_xy + b.shifted_xy,
        shifted_d=a.shifted_d + b.shifted_d, shifted_d2=a.shifted_d2 + b.shifted_d2,
        shifted_xd=a.shifted_xd + b.shifted_xd,
        newest_exposure_ms=max(a.newest_exposure_ms, b.newest_exposure_ms),
        oldest_exposure_ms=min(a.oldest_exposure_ms, b.oldest_exposure_ms))
