"""The allocator as it was first written, bucket by bucket in plain Python: the reference
the array-based `experiments.allocation.allocate` must equal exactly (the same users in
the same variants, the same moves)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experiments.allocation import Allocation, target_counts
from experiments.hashing import BUCKETS

FREE = -1


def reference_allocate(weights: Mapping[str, float], coverage: float,
                       previous: Allocation | None = None) -> tuple[dict, dict, bool]:
    """(ranges, moves as dicts, new_phase)."""
    old_ranges = previous.ranges if previous else {}
    arms = list(weights) + [key for key in old_ranges if key not in weights]
    before = [FREE] * BUCKETS
    for key, spans in old_ranges.items():
        for low, high in spans:
            before[low:high + 1] = [arms.index(key)] * (high - low + 1)
    owner = [b if b < len(weights) else FREE for b in before]
    targets = target_counts(weights, coverage)
    for index, key in enumerate(weights):
        held = [b for b in range(BUCKETS) if owner[b] == index]
        for b in held[targets[key]:]:
            owner[b] = FREE
    total, edges, running = sum(weights.values()), [0], 0.0
    for weight in weights.values():
        running += weight
        edges.append(round(BUCKETS * running / total))
    for index, key in enumerate(weights):
        zone = range(edges[index], edges[index + 1])
        missing = targets[key] - owner.count(index)
        if missing > 0:
            preferred = [b for b in zone if owner[b] == FREE]
            elsewhere = [b for b in range(BUCKETS) if owner[b] == FREE and b not in zone]
            for b in (preferred + elsewhere)[:missing]:
                owner[b] = index
    moves: dict[str, dict[str, Any]] = {}
    for i, key in enumerate(arms):
        pairs = list(zip(before, owner, strict=True))
        moves[key] = {
            "kept": sum(b == a == i for b, a in pairs),
            "moved_in": sum(a == i and b not in (i, FREE) for b, a in pairs),
            "moved_out": sum(b == i and a not in (i, FREE) for b, a in pairs),
            "enrolled": sum(a == i and b == FREE for b, a in pairs),
            "unenrolled": sum(b == i and a == FREE for b, a in pairs),
        }
    ranges: dict[str, list[list[int]]] = {key: [] for key in weights}
    for b, index in enumerate(owner):
        if index != FREE:
            spans = ranges[list(weights)[index]]
            if spans and spans[-1][1] == b - 1:
                spans[-1][1] = b
            else:
                spans.append([b, b])

    def shares(w: Mapping[str, float]) -> dict[str, float]:
        return {k: round(v / sum(w.values()), 9) for k, v in w.items()}

    split_changed = previous is not None and shares(previous.weights) != shares(weights)
    return ranges, moves, split_changed or any(m["moved_out"] for m in moves.values())
