"""Whether an experiment phase's user counts show a sample-ratio mismatch worth an alert.

Both tests must agree, and the guards must hold: the sequential test keeps the
false-alarm rate at alpha however often it is checked (the chi-square test alone,
checked every few seconds, would alarm on most healthy experiments sooner or
later); the chi-square test at p < 0.001 is the familiar yardstick; the minimum
sample and the minimum absolute deviation of a variant's share keep tiny or
harmless imbalances quiet.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analysis.srm import SequentialSrm, SrmTest, sequential_srm, srm_chi_square

SRM_ALPHA = 0.001
MIN_USERS = 1_000
MIN_SHARE_DEVIATION = 0.01  # one percentage point


@dataclass(frozen=True)
class SrmVerdict:
    mismatch: bool
    counts: dict[str, int]
    expected_share: dict[str, float]
    largest_deviation: float  # of a variant's share from its expected share
    chi_square: SrmTest | None
    sequential: SequentialSrm | None


def check_srm(counts: Mapping[str, int], weights: Mapping[str, float], *,
              alpha: float = SRM_ALPHA, min_users: int = MIN_USERS,
              min_deviation: float = MIN_SHARE_DEVIATION) -> SrmVerdict:
    variants = list(weights)
    observed = {v: int(counts.get(v, 0)) for v in variants}
    total_weight = sum(weights.values())
    share = {v: weights[v] / total_weight for v in variants}
    total = sum(observed.values())
    if total == 0 or len(variants) < 2:
        return SrmVerdict(False, observed, share, 0.0, None, None)
    deviation = max(abs(observed[v] / total - share[v]) for v in variants)
    chi = srm_chi_square([observed[v] for v in variants], [share[v] for v in variants],
                         alpha=alpha)
    sequential = sequential_srm([observed[v] for v in variants],
                                [share[v] for v in variants], alpha=alpha)
    mismatch = (total >= min_users and deviation >= min_deviation
                and chi.mismatch and sequential.mismatch)
    return SrmVerdict(mismatch, observed, share, deviation, chi, sequential)
