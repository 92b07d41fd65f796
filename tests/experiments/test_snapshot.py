from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from experiments import (
    ConfigSnapshot,
    Reason,
    assign,
    assign_all,
    bucket,
    config_document,
    parse_config,
)


def snapshot_of(*experiments: dict[str, Any], **extra: Any) -> ConfigSnapshot:
    config, problems = parse_config({"experiments": list(experiments), **extra})
    assert problems == []
    return ConfigSnapshot.build(config, version=7)


def experiment(key: str = "exp", **changes: Any) -> dict[str, Any]:
    doc = {"key": key, "status": "active",
           "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]}
    doc.update(changes)
    return doc


def split(snapshot: ConfigSnapshot, users: int, key: str = "exp") -> Counter:
    return Counter(assign_all(snapshot, f"u{i}")[key].variant for i in range(users))


def test_documents_round_trip_through_the_model() -> None:
    original = snapshot_of(experiment(coverage=30, overrides={"qa": "b"},
                                      targeting={"attribute": "c", "op": "eq", "value": "x"}))
    config, problems = parse_config(config_document(original.config))
    assert problems == [] and config == original.config


def test_etag_changes_with_content_and_version() -> None:
    first = snapshot_of(experiment())
    assert first.etag == snapshot_of(experiment()).etag
    assert first.etag != snapshot_of(experiment(coverage=50)).etag
    assert first.etag != ConfigSnapshot.build(first.config, version=8).etag


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=60))
def test_assignment_is_deterministic(user_id: str) -> None:
    snapshot = snapshot_of(experiment(coverage=70), experiment("other", salt="s2"))
    assert assign_all(snapshot, user_id) == assign_all(snapshot, user_id)
    assert assign(snapshot, "exp", user_id) == assign_all(snapshot, user_id)["exp"]


def test_status_decides_what_everyone_sees() -> None:
    snapshot = snapshot_of(
        experiment("paused", status="paused"),
        experiment("shipped", status="concluded", shipped_variant="b"),
        experiment("rolled_back", status="concluded"),
        experiment("draft", status="draft"),
    )
    result = assign_all(snapshot, "u1")
    assert set(result) == {"paused", "shipped", "rolled_back"}  # drafts are not served
    assert (result["paused"].variant, result["paused"].reason) == ("a", Reason.PAUSED)
    assert (result["shipped"].variant, result["shipped"].reason) == ("b", Reason.CONCLUDED)
    assert result["rolled_back"].variant == "a"
    assert not any(a.enrolled for a in result.values())
    assert assign(snapshot, "draft", "u1").reason is Reason.DRAFT
    assert assign(snapshot, "nope", "u1") is None


def test_overrides_win_and_are_flagged() -> None:
    snapshot = snapshot_of(experiment(overrides={"qa": "b"}, coverage=0),
                           holdout={"percent": 100})
    found = assign(snapshot, "exp", "qa")
    assert (found.variant, found.reason, found.enrolled) == ("b", Reason.OVERRIDE, True)
    assert assign(snapshot, "exp", "someone").reason is Reason.HOLDOUT


@pytest.mark.parametrize(
    "user_id", [None, "", 3.5, b"bytes", ["u"], "x" * 5000, object(), True]
)
def test_malformed_ids_give_control_and_are_counted(user_id: Any) -> None:
    snapshot = snapshot_of(experiment())
    before = snapshot.stats.errors
    result = assign_all(snapshot, user_id, {"a": 1})
    assert result["exp"].variant == "a" and result["exp"].reason is Reason.ERROR
    assert assign(snapshot, "exp", user_id).reason is Reason.ERROR
    assert snapshot.stats.errors == before + 2


@pytest.mark.parametrize("attributes", ["country=US", 42, ["US"], {"country": ["US"]},
                                        {"country": {"nested": 1}}, {"country": object()}])
def test_malformed_attributes_never_raise(attributes: Any) -> None:
    snapshot = snapshot_of(experiment(targeting={"attribute": "country", "op": "in",
                                                 "value": ["US", 1]}))
    result = assign_all(snapshot, "u1", attributes)
    assert result["exp"].variant in ("a", "b")


def test_integer_ids_hash_like_their_decimal_string() -> None:
    snapshot = snapshot_of(experiment())
    assert assign_all(snapshot, 12345) == assign_all(snapshot, "12345")


def test_uniform_split_within_half_a_point_at_one_million_users() -> None:
    snapshot = snapshot_of(experiment(variants=[{"key": "a", "weight": 20},
                                                {"key": "b", "weight": 30},
                                                {"key": "c", "weight": 50}]))
    counts = split(snapshot, 1_000_000)
    shares = {key: counts[key] / 1_000_000 for key in "abc"}
    assert abs(shares["a"] - 0.2) < 0.005
    assert abs(shares["b"] - 0.3) < 0.005
    assert abs(shares["c"] - 0.5) < 0.005
    chi2 = stats.chisquare([counts[k] for k in "abc"], [200_000, 300_000, 500_000])
    assert chi2.pvalue > 0.001


def test_holdout_share() -> None:
    snapshot = snapshot_of(experiment(), holdout={"percent": 10})
    held = sum(assign_all(snapshot, f"u{i}")["exp"].reason is Reason.HOLDOUT
               for i in range(200_000))
    assert abs(held / 200_000 - 0.10) < 0.005


def test_mutual_exclusion_inside_a_layer() -> None:
    snapshot = snapshot_of(
        experiment("left", layer="l", layer_slots=[[0, 2999]]),
        experiment("right", layer="l", layer_slots=[[3000, 9999]]),
        layers=[{"key": "l"}],
    )
    both = enrolled = 0
    for i in range(100_000):
        result = assign_all(snapshot, f"u{i}")
        in_left, in_right = result["left"].enrolled, result["right"].enrolled
        both += in_left and in_right
        enrolled += in_left
    assert both == 0
    assert abs(enrolled / 100_000 - 0.30) < 0.01


def test_experiments_in_different_layers_are_independent() -> None:
    snapshot = snapshot_of(experiment("first"), experiment("second"))
    joint = Counter()
    for i in range(200_000):
        result = assign_all(snapshot, f"user-{i}")
        joint[result["first"].variant, result["second"].variant] += 1
    table = [[joint["a", "a"], joint["a", "b"]], [joint["b", "a"], joint["b", "b"]]]
    assert stats.chi2_contingency(table).pvalue > 0.001


def test_coverage_ramp_keeps_enrolled_users() -> None:
    from experiments import allocate
    from experiments.parsing import current_allocation

    low = snapshot_of(experiment(coverage=20))
    ramped = allocate({"a": 50, "b": 50}, 60, current_allocation(low.config.experiments[0]))
    high = snapshot_of(experiment(coverage=60, ranges=ramped.allocation.ranges))
    for i in range(20_000):
        before = assign(low, "exp", f"u{i}")
        if before.enrolled:
            assert assign(high, "exp", f"u{i}").variant == before.variant


def test_ranges_and_layer_slots_include_both_end_points() -> None:
    document = config_document(snapshot_of(experiment()).config)
    assert document["range_convention"] == "inclusive"  # what GET /config says
    ranges = {"a": [[0, 0], [2, 9999]], "b": [[1, 1]]}  # one bucket [1, 1] holds bucket 1
    snapshot = snapshot_of(experiment(coverage=100, variants=[
        {"key": "a", "weight": 99.99}, {"key": "b", "weight": 0.01}], ranges=ranges),
        experiment("slotted", layer_slots=[[7, 7]]))
    in_b = [u for u in (f"u{i}" for i in range(40_000)) if bucket("exp", u) == 1]
    in_slot = [u for u in (f"u{i}" for i in range(40_000)) if bucket("layer:slotted", u) == 7]
    assert in_b and in_slot
    assert {assign_all(snapshot, u)["exp"].variant for u in in_b} == {"b"}
    assert all(assign_all(snapshot, u)["slotted"].enrolled for u in in_slot)
    _, problems = parse_config({**document, "range_convention": "half-open"})
    assert [str(p) for p in problems] == [
        "config: range_convention: ranges and slots include both end points: use 'inclusive'"
    ]
