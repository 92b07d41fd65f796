from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from experiments.allocation import Allocation, allocate, bucket_table, target_counts
from experiments.hashing import BUCKETS
from tests.experiments.allocation_reference import reference_allocate

weights_strategy = st.lists(st.integers(1, 20), min_size=2, max_size=5).map(
    lambda raw: {f"v{i}": float(w) for i, w in enumerate(raw)}
)
coverage_strategy = st.integers(0, 100).map(float)


def owners(allocation: Allocation) -> list[str | None]:
    table = bucket_table(allocation.ranges, list(allocation.weights))
    keys = list(allocation.weights)
    return [None if index == 255 else keys[index] for index in table]


def count(allocation: Allocation) -> dict[str, int]:
    return {k: sum(hi - lo + 1 for lo, hi in spans) for k, spans in allocation.ranges.items()}


def test_first_allocation_fills_each_zone_from_its_start() -> None:
    change = allocate({"control": 50, "green": 50}, 10)
    assert change.allocation.ranges == {"control": [[0, 499]], "green": [[5000, 5499]]}
    assert not change.new_phase


def test_target_counts_use_largest_remainders() -> None:
    assert target_counts({"a": 34, "b": 33, "c": 33}, 100) == {"a": 3400, "b": 3300, "c": 3300}
    assert target_counts({"a": 1, "b": 1, "c": 1}, 100) == {"a": 3334, "b": 3333, "c": 3333}
    assert sum(target_counts({"a": 1, "b": 1, "c": 1}, 33.33).values()) == 3333


@settings(max_examples=60, deadline=None)
@given(weights_strategy, coverage_strategy, coverage_strategy)
def test_ramping_coverage_up_moves_nobody(weights: dict, low: float, high: float) -> None:
    low, high = min(low, high), max(low, high)
    first = allocate(weights, low).allocation
    ramped = allocate(weights, high, first)
    before, after = owners(first), owners(ramped.allocation)
    assert all(a == b for b, a in zip(before, after, strict=True) if b is not None)
    assert ramped.buckets_moved == 0 and not ramped.new_phase
    assert count(ramped.allocation) == target_counts(weights, high)


@settings(max_examples=60, deadline=None)
@given(weights_strategy, coverage_strategy, coverage_strategy)
def test_ramping_down_then_up_restores_the_same_users(
    weights: dict, low: float, high: float
) -> None:
    low, high = min(low, high), max(low, high)
    start = allocate(weights, high).allocation
    down = allocate(weights, low, start).allocation
    assert owners(allocate(weights, high, down).allocation) == owners(start)


@settings(max_examples=60, deadline=None)
@given(weights_strategy, weights_strategy, coverage_strategy)
def test_reweighting_moves_only_the_surplus(old: dict, new: dict, coverage: float) -> None:
    new = {k: v for k, v in new.items() if k in old} or dict(list(old.items())[:2])
    if len(new) < 2:
        new = dict(list(old.items())[:2])
    first = allocate(old, coverage).allocation
    change = allocate(new, coverage, first)
    have, want = count(first), target_counts(new, coverage)
    dropped = sum(n for k, n in have.items() if k not in new)
    surplus = sum(max(0, have[k] - want[k]) for k in new)
    # Buckets that change variant can only come from surpluses and dropped arms.
    assert change.buckets_moved <= surplus + dropped
    assert count(change.allocation) == want
    spans = sorted(s for spans in change.allocation.ranges.values() for s in spans)
    assert all(a[1] < b[0] for a, b in itertools.pairwise(spans))


def test_reweighting_at_full_coverage_moves_exactly_the_difference() -> None:
    first = allocate({"a": 50, "b": 50}, 100).allocation
    change = allocate({"a": 40, "b": 60}, 100, first)
    assert change.buckets_moved == 1000
    assert change.moves["a"].moved_out == 1000 and change.moves["b"].moved_in == 1000
    assert change.new_phase


def test_adding_and_dropping_arms() -> None:
    first = allocate({"a": 50, "b": 50}, 100).allocation
    added = allocate({"a": 34, "b": 33, "c": 33}, 100, first)
    assert added.moves["c"].moved_in == 3300 and added.buckets_moved == 3300
    dropped = allocate({"a": 50, "c": 50}, 100, added.allocation)
    assert dropped.moves["b"].moved_out == 3300
    assert count(dropped.allocation) == {"a": 5000, "c": 5000}


def test_reweighting_below_full_coverage_opens_a_phase_even_without_moves() -> None:
    first = allocate({"a": 50, "b": 50}, 50).allocation
    change = allocate({"a": 40, "b": 60}, 50, first)
    assert change.buckets_moved == 0
    assert change.new_phase  # the split changed: SRM must compare against the new one


def test_every_bucket_is_covered_once_at_full_coverage() -> None:
    allocation = allocate({"a": 1, "b": 2, "c": 3}, 100).allocation
    assert None not in owners(allocation) and len(owners(allocation)) == BUCKETS


_WEIGHTS = st.lists(st.floats(0.5, 100), min_size=2, max_size=5).map(
    lambda ws: {f"v{i}": w for i, w in enumerate(ws)})


@settings(max_examples=60, deadline=None)
@given(first=_WEIGHTS, second=_WEIGHTS, coverages=st.tuples(st.floats(0, 100),
                                                             st.floats(0, 100)))
def test_the_array_allocator_equals_the_bucket_by_bucket_reference(
        first: dict[str, float], second: dict[str, float],
        coverages: tuple[float, float]) -> None:
    start = allocate(first, coverages[0])
    expected = reference_allocate(first, coverages[0])
    assert (start.allocation.ranges, {k: vars(m) for k, m in start.moves.items()},
            start.new_phase) == expected
    # A second change from there: arms renamed, added or dropped, weights and coverage moved.
    change = allocate(second, coverages[1], start.allocation)
    expected = reference_allocate(second, coverages[1], start.allocation)
    assert (change.allocation.ranges, {k: vars(m) for k, m in change.moves.items()},
            change.new_phase) == expected
