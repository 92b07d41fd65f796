"""What the join emits: one `Fact` per user, experiment phase and version, and its keys.

A fact's values hold each metric under its key; a ratio metric's numerator and
denominator under "<key>:num" and "<key>:den" (`ratio_keys`, `metric_of`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import NamedTuple

from experiments.model import MetricKind


class Fact(NamedTuple):
    """One user's row for one experiment phase: the sink upserts it by version.

    A named tuple: the join makes one per changed experiment phase of every user it
    touches, and a tuple is several times cheaper to build than a frozen dataclass."""

    experiment: str
    phase: int
    variant: str
    user_id: str
    first_exposure_ms: int
    attributes: Mapping[str, str]
    values: Mapping[str, float]  # metric → value (ratio metrics: "<key>:num" and "<key>:den")
    covariates: Mapping[str, float]  # same keys, over the pre-exposure days
    multiple_exposures: bool
    version: int


def phase_key(experiment: str, phase: int) -> str:
    """The key of one experiment phase in a user's state: "<experiment>/<phase>"."""
    return f"{experiment}/{phase}"


NUMERATOR, DENOMINATOR = ":num", ":den"


def ratio_keys(metric: str) -> tuple[str, str]:
    """The value keys of a ratio metric's numerator and denominator in a `Fact`."""
    return metric + NUMERATOR, metric + DENOMINATOR


def metric_of(key: str) -> tuple[str, str | None]:
    """A `Fact` value key's metric, and `NUMERATOR`, `DENOMINATOR` or None."""
    for part in (NUMERATOR, DENOMINATOR):
        if key.endswith(part):
            return key[: -len(part)], part
    return key, None


def metric_values(metrics: Iterable[tuple[str, MetricKind, str, MetricKind | None, str | None]],
                  totals: Mapping[str, list[float]]) -> dict[str, float]:
    """A fact's values from per-event [count, sum] totals, for an experiment's metrics."""
    values: dict[str, float] = {}
    for key, kind, event, den_kind, den_event in metrics:
        if den_event is None:
            values[key] = _value(kind, totals.get(event))
        else:
            values[key + NUMERATOR] = _value(kind, totals.get(event))
            values[key + DENOMINATOR] = _value(den_kind, totals.get(den_event))
    return values


def _value(kind: MetricKind | None, totals: list[float] | None) -> float:
    if totals is None:
        return 0.0
    if kind is MetricKind.CONVERSION:
        return 1.0 if totals[0] else 0.0
    return float(totals[0] if kind is MetricKind.COUNT else totals[1])
