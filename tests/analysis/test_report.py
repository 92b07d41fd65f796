"""The results report against a direct computation from per-user values."""

from __future__ import annotations

import random

import pytest

from analysis import SampleStats, compare, cuped_compare
from analysis.report import experiment_report
from analysis.srm_check import check_srm
from analysis.table import results_table
from sinks.totals import VariantTotals


def totals(variant: str, metric: str, xs: list[float], ys: list[float],
           ds: list[float] | None = None, slice_: str = "") -> VariantTotals:
    ds = ds or [0.0] * len(xs)
    return VariantTotals("exp", 1, variant, metric, slice_, len(xs), sum(xs),
                         sum(x * x for x in xs), sum(ys), sum(y * y for y in ys),
                         sum(x * y for x, y in zip(xs, ys, strict=True)),
                         sum(ds), sum(d * d for d in ds),
                         sum(x * d for x, d in zip(xs, ds, strict=True)), newest_exposure_ms=0)


def test_report_matches_direct_comparisons_and_flags_srm() -> None:
    rng = random.Random(3)
    users = {"a": 4500, "b": 5500}  # a 45/55 split of a 50/50 design
    data = {v: ([float(rng.random() < (0.10 if v == "a" else 0.13)) for _ in range(n)],
                [float(rng.randint(0, 3)) for _ in range(n)]) for v, n in users.items()}
    rows = [totals(v, "bought", xs, [0.0] * len(xs)) for v, (xs, _) in data.items()]
    rows += [totals(v, "visits", ys, [y + rng.random() for y in ys])
             for v, (_, ys) in data.items()]
    (report,) = experiment_report(["a", "b"], {"a": 50, "b": 50},
                                  {"bought": "conversion", "visits": "count"}, rows, {"": users})
    assert report["exposures"] == users
    assert report["srm"]["status"] == "mismatch"
    bought, visits = report["comparisons"]
    direct = compare(SampleStats.from_conversions(4500, int(sum(data["a"][0]))),
                     SampleStats.from_conversions(5500, int(sum(data["b"][0]))))
    assert bought["p_value"] == pytest.approx(direct.p_value, rel=1e-9)
    assert bought["diff"] == pytest.approx(direct.diff, rel=1e-9)
    assert "cuped" not in bought  # no covariate to adjust with
    assert "cuped" in visits and visits["cuped"]["variance_reduction"] > 0
    a, b = rows[2], rows[3]
    adjusted = cuped_compare(SampleStats(a.n, a.sum_x, a.sum_x2, a.sum_y, a.sum_y2, a.sum_xy),
                             SampleStats(b.n, b.sum_x, b.sum_x2, b.sum_y, b.sum_y2, b.sum_xy))
    assert visits["p_value"] == pytest.approx(adjusted.p_value, rel=1e-9)
    # Holm over the family of two: the smaller p-value doubled, never below the raw one.
    smallest = min(bought["p_value"], visits["p_value"])
    assert min(bought["p_value_holm"], visits["p_value_holm"]) == pytest.approx(
        min(1.0, 2 * smallest))


def test_a_balanced_split_is_not_an_srm_and_slices_are_separate() -> None:
    rows = [totals("a", "n", [1.0] * 500, [0.0] * 500, slice_="ios"),
            totals("b", "n", [1.0, 2.0] * 251, [0.0] * 502, slice_="ios"),
            totals("a", "n", [1.0] * 10, [0.0] * 10, slice_="web")]
    exposed = {"ios": {"a": 500, "b": 502}, "web": {"a": 10}}
    ios, web = experiment_report(["a", "b"], {"a": 1, "b": 1}, {"n": "count"}, rows, exposed)
    assert (ios["slice"], ios["srm"]["status"]) == ("ios", "ok")
    assert web["exposures"] == {"a": 10, "b": 0}
    assert "error" in web["comparisons"][0]  # no treatment users in this slice yet


def test_srm_is_the_monitors_verdict_on_the_exposed_users_not_the_metrics_counts() -> None:
    rng = random.Random(4)
    # 5,000 users per arm saw the experiment; only some have a row for the metric.
    rows = [totals(v, "n", [float(rng.randint(0, 3)) for _ in range(n)], [0.0] * n)
            for v, n in (("a", 5_000), ("b", 4_200))]
    exposed = {"": {"a": 5_000, "b": 5_000}}
    (report,) = experiment_report(["a", "b"], {"a": 1, "b": 1}, {"n": "count"}, rows, exposed)
    assert report["exposures"] == {"a": 5_000, "b": 5_000}
    verdict = check_srm(exposed[""], {"a": 1, "b": 1})
    assert report["srm"]["status"] == "ok" and not verdict.mismatch
    assert report["srm"]["p_value_sequential"] == verdict.sequential.p_value  # type: ignore[union-attr]
    skewed = {"": {"a": 5_000, "b": 4_200}}
    (report,) = experiment_report(["a", "b"], {"a": 1, "b": 1}, {"n": "count"}, rows, skewed)
    assert report["srm"]["status"] == "mismatch" == (
        "mismatch" if check_srm(skewed[""], {"a": 1, "b": 1}).mismatch else "ok")


def test_an_undefined_lift_is_reported_with_its_reason() -> None:
    rows = [totals("a", "n", [0.0] * 30, [0.0] * 30), totals("b", "n", [0.0, 1.0] * 15, [0.0] * 30)]
    (report,) = experiment_report(["a", "b"], {"a": 1, "b": 1}, {"n": "count"}, rows,
                                  {"": {"a": 30, "b": 30}})
    (entry,) = report["comparisons"]
    assert entry["lift"] is None and entry["lift_ci"] is None
    assert entry["lift_undefined"] == "the control mean is 0"
    assert entry["p_value"] < 0.05
    assert "lift undefined: the control mean is 0" in results_table({
        "experiment": "exp", "phase": 1, "control": "a", "computed_at": "now",
        "newest_exposure_at": None, "dimension": None, "slices": [report]})


def test_a_variance_lost_to_rounding_is_an_error_not_p_zero() -> None:
    big = [1e8 + 0.001 * i for i in range(50)]
    rows = [totals("a", "n", big, [0.0] * 50),
            totals("b", "n", [x + 0.01 for x in big], [0.0] * 50)]
    (report,) = experiment_report(["a", "b"], {"a": 1, "b": 1}, {"n": "count"}, rows,
                                  {"": {"a": 50, "b": 50}})
    (entry,) = report["comparisons"]
    assert "lost to rounding" in entry["error"] and "p_value" not in entry
