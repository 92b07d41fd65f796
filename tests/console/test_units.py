"""The console's pure parts: sessions, forms, chart geometry; and the pure helpers of
its API twins (cumulative totals, power plans, layer maps)."""

from __future__ import annotations

import pytest

from analysis.errors import AnalysisError
from analysis.planning import power_plan
from console.charts import bucket_bars, forest, line_chart
from console.forms import FormError, draft_form, draft_of, patch_of, problems_by_field
from console.session import SessionKeys
from experiments.layer_map import free_spans
from sinks.timeline import cumulate
from sinks.totals import VariantTotals

ACTIVE = {"key": "e", "status": "active", "variants": [{"key": "c", "weight": 50},
                                                        {"key": "t", "weight": 50}]}


def test_a_session_cookie_holds_only_when_signed_unexpired_and_by_the_same_secret() -> None:
    keys = SessionKeys.for_tokens(["tok-a", "tok-b"], None, ttl_s=60)
    cookie, session = keys.open("tok-a", now=1000.0)
    assert "tok-a" not in cookie
    assert keys.read(cookie, now=1030.0) == session
    assert keys.read(cookie, now=1061.0) is None  # expired
    body, _, signature = cookie.rpartition(".")
    assert keys.read(f"{body}x.{signature}", now=1030.0) is None  # tampered
    assert keys.read(cookie[:-1] + ("0" if cookie[-1] != "0" else "1"), now=1030.0) is None
    other = SessionKeys.for_tokens(["tok-a"], None, ttl_s=60)  # the tokens changed
    assert other.read(cookie, now=1030.0) is None
    assert keys.read("garbage", now=1030.0) is None and keys.read(None) is None
    assert session.fingerprint == keys.fingerprint("tok-a") != keys.fingerprint("tok-b")


def test_csrf_tokens_are_per_session() -> None:
    keys = SessionKeys(b"secret", ttl_s=60)
    _, first = keys.open("t")
    _, second = keys.open("t")
    assert keys.csrf_holds(first, keys.csrf(first))
    assert not keys.csrf_holds(first, keys.csrf(second))
    assert not keys.csrf_holds(first, None) and not keys.csrf_holds(first, "")


@pytest.mark.parametrize(("action", "form", "patch"), [
    ("pause", {}, {"status": "paused"}),
    ("kill", {}, {"status": "concluded", "shipped_variant": None}),
    ("conclude", {"shipped_variant": "t"}, {"status": "concluded", "shipped_variant": "t"}),
    ("ramp", {"coverage": "25"}, {"coverage": 25}),
    ("reweight", {"weight.c": "70", "weight.t": "30"},
     {"variants": [{"key": "c", "weight": 70}, {"key": "t", "weight": 30}]}),
])
def test_actions_become_the_apis_patches(action: str, form: dict[str, str],
                                         patch: dict[str, object]) -> None:
    assert patch_of(action, form, ACTIVE) == patch


def test_actions_the_status_does_not_allow_or_bad_values_are_refused_by_field() -> None:
    with pytest.raises(FormError) as refused:
        patch_of("activate", {}, ACTIVE)
    assert "action" in refused.value.problems
    with pytest.raises(FormError) as refused:
        patch_of("ramp", {"coverage": "lots"}, ACTIVE)
    assert refused.value.problems == {"coverage": ["'lots' is not a number"]}
    with pytest.raises(FormError) as refused:
        patch_of("conclude", {"shipped_variant": "nope"}, ACTIVE)
    assert "shipped_variant" in refused.value.problems


def test_a_draft_form_round_trips_to_the_document_and_back() -> None:
    form = {"key": "k", "description": "d", "layer": "checkout", "layer_slots": "0-4999",
            "coverage": "50", "conversion_window_hours": "24", "variants": "a 50\nb 50",
            "metrics": "buy conversion purchase\n" '{"key": "r", "kind": "sum", "event": "x"}',
            "dimensions": "platform, country", "targeting": '{"attribute": "c", "op": "eq", '
            '"value": "DE"}', "requires_approval": "on"}
    document = draft_of(form)
    assert document["layer_slots"] == [[0, 4999]] and document["coverage"] == 50
    assert document["metrics"][1] == {"key": "r", "kind": "sum", "event": "x"}
    assert document["requires_approval"] is True
    assert draft_of(draft_form(document)) == document


def test_unreadable_draft_fields_and_api_problems_land_on_their_fields() -> None:
    with pytest.raises(FormError) as refused:
        draft_of({"key": "k", "metrics": "one two", "targeting": "[1]", "layer_slots": "a-b"})
    assert set(refused.value.problems) == {"metrics", "targeting", "layer_slots"}
    placed, elsewhere = problems_by_field([
        "experiment 'k': variants[1].weight: must be positive",
        "experiment 'k': coverage: must be between 0 and 100",
        "layer 'x': slots: overlap"])
    assert placed == {"variants": ["variants[1].weight: must be positive"],
                      "coverage": ["must be between 0 and 100"]}
    assert elsewhere == ["layer 'x': slots: overlap"]


def _totals(slice_: str, variant: str, n: int, x: float) -> VariantTotals:
    return VariantTotals("e", 1, variant, "m", slice_, n, x, x, 0, 0, 0, 0, 0, 0, 5)


def test_cumulative_totals_add_up_bucket_by_bucket() -> None:
    rows = [_totals("10", "c", 2, 1.0), _totals("12", "c", 3, 2.0), _totals("12", "t", 1, 1.0)]
    totals, exposed = cumulate(rows, {"10": {"c": 2}, "12": {"c": 3, "t": 1}}, bucket_ms=100)
    by = {(t.slice, t.variant): (t.n, t.shifted_x) for t in totals}
    assert by == {("1100", "c"): (2, 1.0), ("1300", "c"): (5, 3.0), ("1300", "t"): (1, 1.0)}
    assert exposed == {"1100": {"c": 2}, "1300": {"c": 5, "t": 1}}


def test_a_power_plan_needs_fewer_days_for_a_larger_effect() -> None:
    entry = {"metric": "m", "variant": "t", "control_n": 1000, "treatment_n": 1000,
             "control_mean": 0.1, "std_error": 0.0134}
    report = {"exposures": {"c": 1000, "t": 1000}, "comparisons": [entry]}
    small, large = (power_plan(report, {"c": 100.0, "t": 100.0}, target)[0]
                    for target in (0.05, 0.5))
    assert small["users_needed"] > large["users_needed"]
    assert small["days_left"] == (small["users_needed"] - 1000) / 100
    assert large["days_left"] == 0.0 and large["mde_now"] < 0.5
    failed = power_plan({"exposures": {}, "comparisons": [{**entry, "error": "no users"}]}, {})
    assert failed[0]["error"] == "no users"


def test_free_slots_are_the_complement_of_the_owned_ones() -> None:
    assert free_spans([(0, 4999)]) == [(5000, 9999)]
    assert free_spans([(100, 199), (0, 49), (150, 300)]) == [(50, 99), (301, 9999)]
    assert free_spans([(0, 9999)]) == []


def test_chart_geometry_stays_inside_its_box() -> None:
    bars = bucket_bars([("c", [[0, 4999]]), ("t", [[5000, 9999]])], width=800)
    assert [(b.x, b.width) for b in bars] == [(0.0, 400.0), (400.0, 400.0)]
    plot = forest([{"metric": "m", "variant": "t", "lift": 0.1, "lift_ci": [0.0, 0.2],
                    "lift_ci_always_valid": [-0.1, 0.3], "significant": True}],
                  left=200, width=500)
    (row,) = plot.rows
    assert row.always_valid[0] < row.fixed[0] < row.point < row.fixed[1] < row.always_valid[1]
    assert row.always_valid[0] >= 200 and row.always_valid[1] <= 700
    chart = line_chart(["a", "b", "c"], {"s": [1.0, None, 3.0]}, None, (10, 10, 100, 50))
    points = [tuple(map(float, p.split(","))) for p in chart.lines[0].points.split()]
    assert len(points) == 2 and all(10 <= x <= 110 and 10 <= y <= 60 for x, y in points)


@pytest.mark.parametrize("target", [1e-200, 1e-160, 0.0, -0.1, float("nan"), float("inf"), 1e3])
def test_power_targets_no_float_can_plan_are_refused_with_the_reason(target: float) -> None:
    entry = {"metric": "m", "variant": "t", "control_n": 1000, "treatment_n": 1000,
             "control_mean": 0.1, "std_error": 0.0134}
    with pytest.raises(AnalysisError, match="target effect"):
        power_plan({"exposures": {"c": 1000, "t": 1000}, "comparisons": [entry]},
                   {"c": 1.0, "t": 1.0}, target)
