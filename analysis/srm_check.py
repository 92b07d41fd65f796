"""Whether an experiment phase's user counts show a sample-ratio mismatch: the one rule.

The results report (`analysis.report`) and the SRM monitor (`agents.srm_monitor`) both ask
`check_srm`, with the same counts: distinct exposed users per variant
(`sinks.totals.exposed_users`). Both tests must agree, and the guards must hold: the
sequential test keeps the false-alarm rate at alpha however often it is checked (the
chi-square test alone, checked every few seconds, would alarm on most healthy experiments
sooner or later); the chi-square test at p < 0.001 is the familiar yardstick; the minimum
sample and the minimum deviation of a variant's share keep tiny or harmless imbalances
quiet. The deviation is relative to the expected share, so a 10 % variant is held to the
same standard as a 50 % one (a fixed point gate misses real mismatches of small variants and
lets a 49/51 split at 100k users through about half the time).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from analysis.srm import SequentialSrm, SrmTest, sequential_srm, srm_chi_square

SRM_ALPHA = 0.001
MIN_USERS = 1_000
MIN_RELATIVE_DEVIATION = 0.01  # of the expected share: 0.5 points of a 50 % share


@dataclass(frozen=True)
class SrmVerdict:
    mismatch: bool
    counts: dict[str, int]
    expected_share: dict[str, float]
    largest_deviation: float  # |observed share − expected share| / expected share, at most
    chi_square: SrmTest | None
    sequential: SequentialSrm | None


def check_srm(counts: Mapping[str, int], weights: Mapping[str, float], *,
              alpha: float = SRM_ALPHA, min_users: int = MIN_USERS,
              min_deviation: float = MIN_RELATIVE_DEVIATION) -> SrmVerdict:
    """The verdict on distinct exposed users per variant against the allocation weights."""
    variants = list(weights)
    observed = {v: int(counts.get(v, 0)) for v in variants}
    total_weight = sum(weights.values())
    share = {v: weights[v] / total_weight for v in variants}
    total = sum(observed.values())
    if total == 0 or len(variants) < 2:
        return SrmVerdict(False, observed, share, 0.0, None, None)
    deviation = max(abs(observed[v] / total - share[v]) / share[v] for v in variants)
    chi = srm_chi_square([observed[v] for v in variants], [share[v] for v in variants],
                         alpha=alpha)
    sequential = sequential_srm([observed[v] for v in variants],
                                [share[v] for v in variants], alpha=alpha)
    mismatch = (total >= min_users and deviation >= min_deviation
                and chi.mismatch and sequential.mismatch)
    return SrmVerdict(mismatch, observed, share, deviation, chi, sequential)
