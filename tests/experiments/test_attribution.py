from __future__ import annotations

import json
import random
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from experiments import parse_config
from experiments.attribution import DAY_MS, AttributionRules, ExperimentRules, UserState
from experiments.user_record import describe

T0 = 100 * DAY_MS + 12 * 3_600_000  # noon of day 100
MINUTE = 60_000


def rules() -> dict[str, ExperimentRules]:
    config, problems = parse_config({"experiments": [{
        "key": "exp", "status": "active", "conversion_window_hours": 24,
        "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [
            {"key": "bought", "kind": "conversion", "event": "purchase"},
            {"key": "purchases", "kind": "count", "event": "purchase"},
            {"key": "revenue", "kind": "sum", "event": "purchase"},
            {"key": "aov", "kind": "ratio", "numerator": {"event": "purchase", "kind": "sum"},
             "denominator": {"event": "purchase", "kind": "count"}},
        ],
    }]})
    assert problems == []
    return {"exp": ExperimentRules.of(config.experiments[0])}


def exposure(time: int, variant: str = "a", phase: int = 1, **extra: Any) -> dict[str, Any]:
    return {"experiment": "exp", "phase": phase, "variant": variant, "timestamp": time, **extra}


def goal(time: int, value: float = 10.0, name: str = "purchase") -> dict[str, Any]:
    return {"name": name, "value": value, "timestamp": time}


def run(events: list[tuple[str, dict[str, Any]]]) -> UserState:
    state, known = UserState("u1"), rules()
    for kind, event in events:
        if kind == "exposure":
            state.on_exposure(event, known.get(event["experiment"]))
        else:
            state.on_goal(event, known)
    return state


def only_fact(state: UserState) -> Any:
    (fact,) = state.facts(rules())
    return fact


def test_a_conversion_after_exposure_counts() -> None:
    fact = only_fact(run([("exposure", exposure(T0)), ("goal", goal(T0 + 5 * MINUTE, 30.0))]))
    assert fact.values == {"bought": 1.0, "purchases": 1.0, "revenue": 30.0,
                           "aov:num": 30.0, "aov:den": 1.0}
    assert fact.variant == "a" and fact.first_exposure_ms == T0


def test_a_goal_before_exposure_does_not_count_but_feeds_the_covariate() -> None:
    yesterday = T0 - DAY_MS
    fact = only_fact(run([("goal", goal(yesterday, 7.0)), ("exposure", exposure(T0))]))
    assert fact.values["purchases"] == 0.0 and fact.values["bought"] == 0.0
    assert fact.covariates["purchases"] == 1.0 and fact.covariates["revenue"] == 7.0
    same_day = only_fact(run([("goal", goal(T0 - 3 * 3_600_000)), ("exposure", exposure(T0))]))
    assert same_day.values["purchases"] == 0.0 and same_day.covariates["purchases"] == 0.0


def test_a_goal_arriving_before_its_exposure_within_grace_counts() -> None:
    state = run([("goal", goal(T0 + MINUTE)), ("exposure", exposure(T0))])
    assert only_fact(state).values["purchases"] == 1.0


def test_after_the_grace_period_an_early_goal_can_no_longer_be_attributed() -> None:
    state, known = UserState("u1", AttributionRules(grace_ms=10 * MINUTE)), rules()
    state.on_goal(goal(T0 + MINUTE), known)
    state.evict(watermark_ms=T0 + 30 * MINUTE)  # past the 10 minutes of grace
    state.on_exposure(exposure(T0), known["exp"], watermark_ms=T0 + 30 * MINUTE)
    assert only_fact(state).values["purchases"] == 0.0
    assert describe("exp/1", state.exposures["exp/1"])["late"] is True


def test_attributed_totals_survive_eviction() -> None:
    state, known = UserState("u1"), rules()
    state.on_exposure(exposure(T0), known["exp"])
    state.on_goal(goal(T0 + MINUTE), known)
    state.evict(watermark_ms=T0 + 3 * DAY_MS)
    assert state.recent == [] and only_fact(state).values["purchases"] == 1.0


def test_the_conversion_window_and_the_skew_allowance() -> None:
    fact = only_fact(run([("exposure", exposure(T0)), ("goal", goal(T0 - 30_000)),
                          ("goal", goal(T0 + DAY_MS + 1))]))
    assert fact.values["purchases"] == 1.0  # 30 s early is within the skew; a day late is not


def test_the_earliest_exposure_wins_and_a_second_variant_is_flagged() -> None:
    state = run([("exposure", exposure(T0 + 5 * MINUTE, "b")),
                 ("goal", goal(T0 + MINUTE)), ("exposure", exposure(T0, "a"))])
    fact = only_fact(state)
    assert fact.first_exposure_ms == T0 and fact.variant == "a"
    assert fact.multiple_exposures is True
    assert fact.values["purchases"] == 1.0


def test_overrides_enrol_but_give_no_fact() -> None:
    state = run([("exposure", exposure(T0, override=True)), ("goal", goal(T0 + MINUTE))])
    assert state.facts(rules()) == [] and "exp/1" in state.exposures


def test_phases_are_separate_facts() -> None:
    state = run([("exposure", exposure(T0, phase=1)), ("exposure", exposure(T0, "b", phase=2))])
    assert sorted((f.phase, f.variant) for f in state.facts(rules())) == [(1, "a"), (2, "b")]


def test_replays_are_recognised_by_offset() -> None:
    state = UserState("u1")
    assert not state.applied("events/0", 5)
    state.mark("events/0", 5)
    assert state.applied("events/0", 5) and state.applied("events/0", 4)
    assert not state.applied("events/0", 6) and not state.applied("events/1", 0)


def test_state_round_trips_through_json() -> None:
    state = run([("goal", goal(T0 - DAY_MS)), ("exposure", exposure(T0)),
                 ("goal", goal(T0 + MINUTE))])
    state.mark("events/3", 17)
    copy = UserState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert copy.facts(rules()) == state.facts(rules())
    copy.on_goal(goal(T0 + 2 * MINUTE), rules())
    assert only_fact(copy).values["purchases"] == 2.0 and copy.applied("events/3", 17)


def test_history_is_bounded() -> None:
    state = UserState("u1", AttributionRules(max_recent_goals=50))
    for i in range(500):
        state.on_goal(goal(T0 + i), {})
    assert len(state.recent) == 50 and state.recent[0][0] == T0 + 450


@settings(max_examples=100, deadline=None)
@given(st.randoms(use_true_random=False), st.integers(0, 5), st.integers(0, 5))
def test_arrival_order_within_the_grace_period_does_not_matter(
    shuffle: random.Random, goals_before: int, goals_after: int
) -> None:
    events = [("exposure", exposure(T0 + 2 * MINUTE, "b")), ("exposure", exposure(T0, "a"))]
    events += [("goal", goal(T0 - DAY_MS + i * MINUTE, i)) for i in range(goals_before)]
    events += [("goal", goal(T0 + i * MINUTE, i + 1.5)) for i in range(goals_after)]
    events += [("goal", goal(T0 - 2 * MINUTE, 99.0))]  # before the exposure, same day
    reference = only_fact(run(events))
    shuffled = list(events)
    shuffle.shuffle(shuffled)
    fact = only_fact(run(shuffled))
    assert (fact.variant, fact.first_exposure_ms, fact.values, fact.covariates) == (
        reference.variant, reference.first_exposure_ms, reference.values, reference.covariates)
    assert reference.values["purchases"] == goals_after
    assert reference.covariates["purchases"] == goals_before


def test_facts_carry_the_configured_dimensions_as_at_first_exposure() -> None:
    config, problems = parse_config({"experiments": [{
        "key": "exp", "status": "active", "dimensions": ["platform", "country"],
        "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "n", "kind": "count", "event": "purchase"}]}]})
    assert problems == []
    known = {"exp": ExperimentRules.of(config.experiments[0])}
    state = UserState("u1")
    state.on_exposure(exposure(T0 + MINUTE, attributes={"platform": "ios", "browser": "x"}),
                      known["exp"])
    # An earlier exposure arriving later is the first: its attributes are the ones kept.
    state.on_exposure(exposure(T0, attributes={"platform": "web", "country": "NL"}),
                      known["exp"])
    state.on_exposure(exposure(T0 + 2 * MINUTE, attributes={"platform": "android"}),
                      known["exp"])
    (fact,) = state.facts(known)
    assert dict(fact.attributes) == {"platform": "web", "country": "NL"}


def test_a_state_stored_in_the_first_form_still_loads() -> None:
    # As workers before the compact form wrote it: exposures as objects, no "format".
    stored = {
        "user_id": "u1", "version": 2, "watermark": T0 + MINUTE, "seen_floor": 0,
        "exposures": {"exp/1": {
            "experiment": "exp", "phase": 1, "variant": "b", "first": T0, "override": False,
            "multiple": True, "attributes": {"platform": "ios"}, "late": False,
            "values": {"purchase": [1.0, 10.0]}, "covariates": {"purchase": [2.0, 5.0]}}},
        "recent": [[T0 + MINUTE, "purchase", 10.0]],
        "days": {"purchase": {str(T0 // DAY_MS - 1): [2.0, 5.0]}},
        "offsets": {"events/0": 4}, "seen": {"g1": T0 + MINUTE}}
    state = UserState.from_dict(json.loads(json.dumps(stored)))
    fact = only_fact(state)
    assert (fact.variant, fact.first_exposure_ms, fact.multiple_exposures) == ("b", T0, True)
    assert fact.values["purchases"] == 1.0 and fact.covariates["revenue"] == 5.0
    assert state.applied("events/0", 4) and state.check("g1", T0 + MINUTE).value == "duplicate"
    state.on_goal(goal(T0 + 2 * MINUTE), rules())
    again = UserState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert only_fact(again).values["purchases"] == 2.0 and again.to_dict()["format"] == 2


def test_a_record_of_the_first_form_without_the_late_flag_still_loads() -> None:
    exposure = {"experiment": "exp", "phase": 1, "variant": "a", "first": T0,
                "override": False, "multiple": False, "attributes": {}, "values": {},
                "covariates": {}}
    state = UserState.from_dict({
        "user_id": "u1", "version": 1, "watermark": T0, "seen_floor": 0,
        "exposures": {"exp/1": exposure}, "recent": [], "days": {}, "offsets": {},
        "seen": {}})
    assert describe("exp/1", state.exposures["exp/1"])["late"] is False
    assert only_fact(state).variant == "a"


def test_only_the_exposures_a_change_reaches_are_taken_as_changed() -> None:
    known = rules()
    state = run([("exposure", exposure(T0)), ("exposure", exposure(T0, phase=2))])
    assert state.take_changed(known) == {"exp/1", "exp/2"}
    state.on_goal(goal(T0 + MINUTE, name="search"), known)  # no metric of exp counts it
    state.on_exposure(exposure(T0 + MINUTE), known["exp"])  # later, same variant
    assert state.take_changed(known) == set()
    state.on_exposure(exposure(T0 + 2 * MINUTE, "b", phase=2), known["exp"])
    assert state.take_changed(known) == {"exp/2"}  # now flagged as multiply exposed
    state.on_goal(goal(T0 + MINUTE), known)
    assert state.take_changed(known) == {"exp/1", "exp/2"}


def test_facts_are_taken_as_changed_when_their_experiments_rules_change() -> None:
    state = run([("exposure", exposure(T0))])
    state.take_changed(rules())
    config, _ = parse_config({"experiments": [{
        "key": "exp", "status": "active", "conversion_window_hours": 24,
        "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "searches", "kind": "count", "event": "search"}]}]})
    changed = {"exp": ExperimentRules.of(config.experiments[0])}
    assert state.take_changed(changed) == {"exp/1"}
    assert state.take_changed(changed) == set()


def test_eviction_forgets_as_before_when_it_skips_its_scans() -> None:
    state, known = UserState("u1", AttributionRules(grace_ms=10 * MINUTE)), rules()
    state.on_goal(goal(T0), known)
    state.evict(T0 + 10 * MINUTE)  # exactly the grace period: kept
    assert len(state.recent) == 1
    copy = UserState.from_dict(json.loads(json.dumps(state.to_dict())),
                               AttributionRules(grace_ms=10 * MINUTE))
    copy.evict(T0 + 10 * MINUTE + 1)
    assert copy.recent == [] and copy.days  # the day's totals stay for the lookback
    copy.evict(T0 + 16 * DAY_MS)
    assert copy.days == {}
