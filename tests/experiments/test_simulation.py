"""The simulator: deterministic, messy as asked, and its truth is what attribution computes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from experiments import ConfigSnapshot, load_config_file
from experiments.attribution import ExperimentRules, UserState
from experiments.dedup import Verdict
from experiments.ground_truth import SUMS, compare
from experiments.simulation import (
    Simulation,
    SimulationSpec,
    default_effects,
    parse_effect,
    simulate,
)

DEMO = Path(__file__).resolve().parents[2] / "configs" / "demo.yaml"
NOW = 1_790_000_000_000


@pytest.fixture(scope="module")
def snapshot() -> ConfigSnapshot:
    return ConfigSnapshot.build(load_config_file(DEMO))


@pytest.fixture(scope="module")
def messy(snapshot: ConfigSnapshot) -> Simulation:
    return simulate(snapshot, SimulationSpec(
        users=3_000, seed=7, now_ms=NOW, duplicate_rate=0.2, out_of_order_rate=0.5,
        clock_skew_rate=0.5, repeat_exposure_rate=0.5, effects=default_effects(snapshot)))


def stream_totals(snapshot: ConfigSnapshot, simulation: Simulation) -> dict[tuple, dict]:
    """The deliveries through the join's own rules, in delivery order: per-variant sums."""
    experiments = {e.key: ExperimentRules.of(e) for e in snapshot.config.experiments}
    users: dict[str, UserState] = {}
    for delivery in simulation.deliveries:
        record = delivery.record
        user = users.setdefault(record["user_id"], UserState(record["user_id"]))
        if user.check(record["event_id"], record["timestamp"]) is not Verdict.NEW:
            continue
        user.evict(max(user.watermark, record["timestamp"]))
        if delivery.kind == "exposure":
            user.on_exposure(record, experiments[record["experiment"]], user.watermark)
        else:
            user.on_goal(record, experiments)
    totals: dict[tuple, dict] = {}
    for user in users.values():
        for fact in user.facts(experiments):
            for key, rules in ((m[0], m) for m in experiments[fact.experiment].metrics):
                ratio = rules[3] is not None
                x = fact.values[f"{key}:num" if ratio else key]
                y = fact.covariates[f"{key}:num" if ratio else key]
                d = fact.values[f"{key}:den"] if ratio else 0.0
                sums = totals.setdefault((fact.experiment, fact.variant, key),
                                         dict.fromkeys(SUMS, 0.0))
                for name, value in (("n", 1), ("sum_x", x), ("sum_x2", x * x), ("sum_y", y),
                                    ("sum_y2", y * y), ("sum_xy", x * y), ("sum_d", d)):
                    sums[name] += value
    return totals


def test_the_truth_is_what_the_join_computes_from_the_messy_deliveries(
    snapshot: ConfigSnapshot, messy: Simulation
) -> None:
    rows = compare(messy.truth, stream_totals(snapshot, messy))
    assert len(rows) == 16  # every experiment × variant × metric of the demo
    assert [r for r in rows if not r["ok"]] == []
    assert all(r["expected"]["n"] > 0 for r in rows)


def test_delivery_is_as_messy_as_asked(messy: Simulation) -> None:
    ids = Counter(d.record["event_id"] for d in messy.deliveries)
    twice = sum(1 for n in ids.values() if n == 2)
    assert 0.15 < twice / len(ids) < 0.25  # duplicate_rate 0.2
    # Some goals arrive before an exposure that happened earlier than they did.
    exposed_at: dict[str, int] = {}
    for d in messy.deliveries:
        if d.kind == "exposure":
            exposed_at[d.record["user_id"]] = min(
                d.record["timestamp"], exposed_at.get(d.record["user_id"], 1 << 62))
    seen: set[str] = set()
    reordered = 0
    for d in messy.deliveries:
        uid = d.record["user_id"]
        if d.kind == "exposure":
            seen.add(uid)
        elif uid in exposed_at and uid not in seen and d.record["timestamp"] > exposed_at[uid]:
            reordered += 1
    assert reordered > 0
    # History (the days before the visit) is delivered before the live traffic.
    times = [d.record["timestamp"] for d in messy.deliveries]
    assert min(times) < NOW - 24 * 3_600_000 and max(times) < NOW


def test_the_same_seed_gives_the_same_traffic(snapshot: ConfigSnapshot) -> None:
    spec = SimulationSpec(users=300, seed=3, now_ms=NOW)
    first, second = simulate(snapshot, spec), simulate(snapshot, spec)
    assert first.deliveries == second.deliveries and first.truth == second.truth
    other = simulate(snapshot, SimulationSpec(users=300, seed=4, now_ms=NOW))
    assert other.deliveries != first.deliveries


def test_true_effects_move_the_treatment(snapshot: ConfigSnapshot) -> None:
    effects = {("search_ranking_v2", "learned", "search"): 1.0,
               ("search_ranking_v2", "bm25_boost", "*"): -0.5}
    truth = simulate(snapshot, SimulationSpec(users=4_000, seed=11, now_ms=NOW,
                                              effects=effects)).truth
    variants = truth["experiments"]["search_ranking_v2"]["variants"]

    def mean(variant: str, metric: str) -> float:
        sums = variants[variant]["metrics"][metric]
        return sums["sum_x"] / sums["n"]

    assert mean("learned", "searches") > 1.6 * mean("control", "searches")
    assert mean("bm25_boost", "searches") < 0.7 * mean("control", "searches")
    assert variants["learned"]["true_lift"] == {"search": 1.0, "search_click": 0.0}
    # The pre-period does not depend on the variant: CUPED has a covariate to use.
    pre = {v: f["metrics"]["searches"]["sum_y"] / f["metrics"]["searches"]["n"]
           for v, f in variants.items()}
    assert max(pre.values()) < 1.25 * min(pre.values())


def test_holdout_and_targeting_apply(snapshot: ConfigSnapshot, messy: Simulation) -> None:
    users = Counter(d.record["user_id"] for d in messy.deliveries if d.kind == "exposure")
    exposed = {uid for uid in users}
    assert len(exposed) < 3_000  # held-out and unlucky users see no experiment
    one_click = [d.record for d in messy.deliveries if d.kind == "exposure"
                 and d.record["experiment"] == "one_click_checkout"]
    assert one_click and all(r["attributes"]["returning"] == "true" for r in one_click)


def test_compare_names_what_differs(messy: Simulation) -> None:
    found: dict[tuple, dict[str, Any]] = {}
    for key, part in messy.truth["experiments"].items():
        for variant, figures in part["variants"].items():
            for metric, sums in figures["metrics"].items():
                found[key, variant, metric] = dict(sums)
    assert all(row["ok"] for row in compare(messy.truth, found))
    found["checkout_button_color", "green", "revenue"]["sum_x"] += 0.01
    del found["search_ranking_v2", "learned", "searches"]
    bad = {(r["variant"], r["metric"]): r["mismatched"]
           for r in compare(messy.truth, found) if not r["ok"]}
    assert bad[("green", "revenue")] == ["sum_x"]
    assert "n" in bad[("learned", "searches")]


@pytest.mark.parametrize(("text", "expected"), [
    ("exp.b=0.05", (("exp", "b", "*"), 0.05)),
    ("exp.b.purchase=-0.1", (("exp", "b", "purchase"), -0.1)),
])
def test_effects_parse(text: str, expected: tuple) -> None:
    assert parse_effect(text) == expected


@pytest.mark.parametrize(("text", "message"), [
    ("exp=0.1", "use experiment.variant"), ("exp.b=", "use experiment.variant"),
    ("exp.b=much", "is not a number"), ("exp.b=-1", "above -1"), ("a.b.c.d=1", "use"),
])
def test_bad_effects_are_refused_with_the_reason(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_effect(text)
