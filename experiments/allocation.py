"""Weights and coverage as explicit variant bucket ranges, moving as few users as possible.

An allocation maps each of the experiment's 10,000 variant buckets to a variant
or to nobody (not enrolled), written as inclusive ranges per variant, like
Pinterest's ``group_ranges``: ``{"control": [[0, 2499]], "green": [[5000, 7499]]}``.

Each variant has a *zone*: its share of the bucket space by weight, in variant
order. A first allocation fills every zone from its start, coverage percent of
the way; so ramping coverage up or down only adds or removes buckets at the end
of each variant's holdings, and ramping down then up again restores the same
users. A change of weights or arms keeps every bucket it can: a variant over
its new target releases its highest buckets; a variant under its target takes
free buckets, first inside its new zone, then anywhere, lowest first.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from experiments.hashing import BUCKETS

Ranges = Mapping[str, Sequence[Sequence[int]]]
_FREE = -1


@dataclass(frozen=True)
class VariantMoves:
    kept: int  # buckets that stay with this variant
    moved_in: int  # buckets that belonged to another variant
    moved_out: int  # buckets that now belong to another variant
    enrolled: int  # buckets newly enrolled (from nobody)
    unenrolled: int  # buckets leaving the experiment


@dataclass(frozen=True)
class Allocation:
    """What is in force: the weights and coverage (percent) and the ranges they produced."""

    weights: Mapping[str, float]
    coverage: float
    ranges: Ranges


@dataclass(frozen=True)
class AllocationChange:
    allocation: Allocation
    moves: dict[str, VariantMoves]  # per variant, dropped arms included
    new_phase: bool  # an enrolled bucket changed variant, or the split changed

    @property
    def buckets_moved(self) -> int:
        """Buckets (hence users, in expectation 1/10,000 each) whose variant changed."""
        return sum(m.moved_out for m in self.moves.values())


def target_counts(weights: Mapping[str, float], coverage: float) -> dict[str, int]:
    """Buckets per variant: coverage percent of 10,000, split by weight (largest remainder)."""
    total = round(BUCKETS * coverage / 100)
    weight_sum = sum(weights.values())
    exact = {key: total * weight / weight_sum for key, weight in weights.items()}
    counts = {key: int(share) for key, share in exact.items()}
    order = list(weights)
    by_remainder = sorted(order, key=lambda key: (counts[key] - exact[key], order.index(key)))
    for key in by_remainder[: total - sum(counts.values())]:
        counts[key] += 1
    return counts


def allocate(
    weights: Mapping[str, float], coverage: float, previous: Allocation | None = None
) -> AllocationChange:
    """Ranges for `weights` (variant → weight) at `coverage` percent, starting from `previous`.

    Bucket owners are an array (10,000 entries): each step is a vector operation,
    so a catalogue of thousands of experiments allocates in milliseconds each.
    """
    old_ranges = previous.ranges if previous else {}
    arms = list(weights) + [key for key in old_ranges if key not in weights]
    before = _owners(old_ranges, arms)
    owner = np.where(before < len(weights), before, _FREE)  # dropped arms free theirs
    targets = target_counts(weights, coverage)
    for index, key in enumerate(weights):
        held = np.flatnonzero(owner == index)
        owner[held[targets[key]:]] = _FREE  # release the highest surplus buckets
    for index, (key, zone) in enumerate(zip(weights, _zones(weights), strict=True)):
        missing = targets[key] - int(np.count_nonzero(owner == index))
        if missing > 0:
            _take(owner, index, missing, zone)
    moves = _moves(before, owner, arms)
    split_changed = previous is not None and _shares(previous.weights) != _shares(weights)
    return AllocationChange(
        allocation=Allocation(dict(weights), coverage, to_ranges(owner, list(weights))),
        moves=moves,
        new_phase=split_changed or any(m.moved_out for m in moves.values()),
    )


def to_ranges(owner: Sequence[int] | np.ndarray, variants: Sequence[str],
              ) -> dict[str, list[list[int]]]:
    """Each variant's buckets as inclusive [first, last] runs, in bucket order."""
    owners = np.asarray(owner)
    ranges: dict[str, list[list[int]]] = {}
    for index, key in enumerate(variants):
        held = np.flatnonzero(owners == index)
        breaks = np.flatnonzero(np.diff(held) != 1)  # where a run ends
        starts = np.concatenate(([0], breaks + 1)) if held.size else np.array([], int)
        ends = np.concatenate((breaks, [held.size - 1])) if held.size else np.array([], int)
        ranges[key] = [[int(held[a]), int(held[b])] for a, b in zip(starts, ends, strict=True)]
    return ranges


def bucket_table(ranges: Ranges, variants: Sequence[str]) -> bytes:
    """10,000 bytes: the variant index owning each bucket, 255 for nobody."""
    table = bytearray([255]) * BUCKETS
    for index, key in enumerate(variants):
        for low, high in ranges.get(key, ()):
            table[low : high + 1] = bytes([index]) * (high - low + 1)
    return bytes(table)


def _owners(ranges: Ranges, arms: Sequence[str]) -> np.ndarray:
    owner = np.full(BUCKETS, _FREE, dtype=np.int32)
    for key, spans in ranges.items():
        for low, high in spans:
            owner[low : high + 1] = arms.index(key)
    return owner


def _zones(weights: Mapping[str, float]) -> list[range]:
    total, edges, running = sum(weights.values()), [0], 0.0
    for weight in weights.values():
        running += weight
        edges.append(round(BUCKETS * running / total))
    return [range(low, high) for low, high in itertools.pairwise(edges)]


def _take(owner: np.ndarray, index: int, count: int, zone: range) -> None:
    """Free buckets to `index`: first inside its zone, then anywhere, lowest first."""
    free = owner == _FREE
    inside = np.zeros(BUCKETS, dtype=bool)
    inside[zone.start:zone.stop] = True
    chosen = np.concatenate((np.flatnonzero(free & inside), np.flatnonzero(free & ~inside)))
    owner[chosen[:count]] = index


def _shares(weights: Mapping[str, float]) -> dict[str, float]:
    total = sum(weights.values())
    return {key: round(weight / total, 9) for key, weight in weights.items()}


def _moves(before: np.ndarray, after: np.ndarray, arms: Sequence[str],
           ) -> dict[str, VariantMoves]:
    def count(mask: np.ndarray) -> int:
        return int(np.count_nonzero(mask))

    moves = {}
    for i, key in enumerate(arms):
        was, now = before == i, after == i
        moves[key] = VariantMoves(
            kept=count(was & now),
            moved_in=count(now & (before != i) & (before != _FREE)),
            moved_out=count(was & (after != i) & (after != _FREE)),
            enrolled=count(now & (before == _FREE)),
            unenrolled=count(was & (after == _FREE)),
        )
    return moves
