"""What the join emits: one `Fact` per user, experiment phase and version, and its keys.

A fact's values hold each metric under its key; a ratio metric's numerator and
denominator under "<key>:num" and "<key>:den" (`ratio_keys`, `metric_of`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class Fact:
    """One user's row for one experiment phase: the sink upserts it by version."""

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
