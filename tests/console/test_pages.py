"""The console's reading pages in a real browser show the JSON API's numbers."""

from __future__ import annotations

import re

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from tests.console.conftest import Console, sign_in
from tests.workers import TOKENS

pytestmark = pytest.mark.infra
DEMO = ("checkout_button_color", "one_click_checkout", "search_ranking_v2")


def test_sign_in_sets_a_strict_http_only_session_cookie(browser: WebDriver,
                                                        console: Console) -> None:
    sign_in(browser, console, "not-a-token")
    assert "not one of this worker's" in browser.find_element(By.ID, "login-problem").text
    assert browser.get_cookies() == []
    sign_in(browser, console, TOKENS["alice"])
    assert browser.find_element(By.ID, "actor").text == "alice"
    (cookie,) = browser.get_cookies()
    assert cookie["name"] == "abstream_session" and cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Strict" and "expiry" in cookie
    assert TOKENS["alice"] not in cookie["value"]
    assert browser.execute_script("return document.cookie") == ""  # no script can read it
    console.shot(browser, "list")


def test_the_list_shows_each_experiment_with_the_results_apis_exposures(
        browser: WebDriver, console: Console) -> None:
    client = console.worker.client()
    browser.get(console.url + "/ui/")
    rows = {row.get_attribute("data-key"): row
            for row in browser.find_elements(By.CSS_SELECTOR, "tr.experiment")}
    assert set(DEMO) <= set(rows)
    for key in DEMO:
        report = client.get(f"/experiments/{key}/results")
        expected = report["slices"][0]["exposures"]
        shown = {cell.get_attribute("data-variant"): int(cell.get_attribute("data-value"))
                 for cell in rows[key].find_elements(By.CSS_SELECTOR, ".exposures")}
        assert shown == expected and sum(expected.values()) > 100
        srm = rows[key].find_element(By.CSS_SELECTOR, ".srm").text
        assert srm == report["slices"][0]["srm"]["status"]
        significant = sum(bool(c.get("significant")) for c in report["slices"][0]["comparisons"])
        assert rows[key].find_element(By.CSS_SELECTOR, ".significant").text.startswith(
            f"{significant} of ")
        assert rows[key].find_element(By.CSS_SELECTOR, ".freshness").text == \
            report["newest_exposure_at"]


def test_filters_narrow_the_list(browser: WebDriver, console: Console) -> None:
    browser.get(console.url + "/ui/?layer=checkout")
    keys = {r.get_attribute("data-key") for r in browser.find_elements(By.CSS_SELECTOR,
                                                                          "tr.experiment")}
    assert keys == {"checkout_button_color", "one_click_checkout"}
    browser.get(console.url + "/ui/?q=ranking")
    keys = {r.get_attribute("data-key") for r in browser.find_elements(By.CSS_SELECTOR,
                                                                          "tr.experiment")}
    assert keys == {"search_ranking_v2"}


@pytest.mark.parametrize("dimension", ["", "platform"])
def test_an_experiment_page_shows_the_apis_lift_interval_and_p_values(
        browser: WebDriver, console: Console, dimension: str) -> None:
    key = "checkout_button_color"
    report = console.worker.client().get(f"/experiments/{key}/results",
                                         dimension=dimension or None)
    browser.get(console.url + f"/ui/experiments/{key}?dimension={dimension}")
    tables = browser.find_elements(By.CSS_SELECTOR, "table.results")
    assert [t.get_attribute("data-slice") for t in tables] == [s["slice"] for s in
                                                                report["slices"]]
    checked = 0
    for table, part in zip(tables, report["slices"], strict=True):
        rows = table.find_elements(By.CSS_SELECTOR, "tr.comparison")
        assert len(rows) == len(part["comparisons"])
        for row, expected in zip(rows, part["comparisons"], strict=True):
            assert row.get_attribute("data-metric") == expected["metric"]
            if "error" in expected:
                continue
            for attribute, value in (("data-lift", expected["lift"]),
                                     ("data-p-value", expected["p_value"]),
                                     ("data-p-value-holm", expected["p_value_holm"]),
                                     ("data-lift-low", expected["lift_ci"][0]),
                                     ("data-lift-high", expected["lift_ci"][1])):
                assert float(row.get_attribute(attribute)) == value, attribute
                checked += 1
    assert checked >= 15
    if not dimension:
        console.shot(browser, "experiment")


def test_the_forest_plot_has_one_mark_per_metric_and_variant(
        browser: WebDriver, console: Console) -> None:
    key = "search_ranking_v2"  # two treatments
    report = console.worker.client().get(f"/experiments/{key}/results")
    browser.get(console.url + f"/ui/experiments/{key}")
    rows = browser.find_elements(By.CSS_SELECTOR, "#forest g.forest-row")
    labels = [r.get_attribute("data-label") for r in rows]
    assert labels == [f"{c['metric']} · {c['variant']}"
                      for c in report["slices"][0]["comparisons"]]
    assert len(labels) == 4
    for row in rows:
        assert len(row.find_elements(By.CSS_SELECTOR, "circle.estimate")) == 1
        assert len(row.find_elements(By.CSS_SELECTOR, "line.fixed")) == 1
        assert len(row.find_elements(By.CSS_SELECTOR, "line.always-valid")) == 1
    assert "always-valid" in browser.find_element(By.ID, "peeking-warning").text


def test_over_time_and_power_follow_their_apis(browser: WebDriver, console: Console) -> None:
    key = "checkout_button_color"
    client = console.worker.client()
    timeline = client.get(f"/experiments/{key}/timeline", bucket="hour")
    power = client.get(f"/experiments/{key}/power", mde=0.05)
    browser.get(console.url + f"/ui/experiments/{key}?mde=0.05")
    series = browser.find_elements(By.CSS_SELECTOR, "#over-time polyline.series")
    comparisons = timeline["points"][-1]["comparisons"]
    assert len(series) == 2 + len(comparisons)  # exposures of both variants, then lifts
    points = series[0].get_attribute("points").split()
    assert len(points) == len(timeline["points"]) > 1
    plans = browser.find_elements(By.CSS_SELECTOR, "#power tr.plan")
    assert [p.get_attribute("data-metric") for p in plans] == [
        c["metric"] for c in power["comparisons"]]
    assert power["comparisons"][0]["users_needed"] > 0


def test_layers_operations_and_qa_pages_render(browser: WebDriver, console: Console) -> None:
    browser.get(console.url + "/ui/layers")
    layer = browser.find_element(By.CSS_SELECTOR, "section.layer[data-layer=checkout]")
    assert len(layer.find_elements(By.CSS_SELECTOR, "tr.slot")) == 2
    console.shot(browser, "layers")
    browser.get(console.url + "/ui/operations")
    assert browser.find_element(By.ID, "traffic").is_displayed()
    console.shot(browser, "operations")


def test_the_qa_answer_equals_get_assignments_for_50_users(
        browser: WebDriver, console: Console) -> None:
    client = console.worker.client()
    for i in range(50):
        attributes = {"platform": ("web", "ios")[i % 2], "returning": "true",
                      "country": ("DE", "US", "FR")[i % 3]}
        query = "&".join(f"{k}={v}" for k, v in attributes.items())
        user = "qa-alice" if i == 0 else f"qa-user-{i}"
        browser.get(console.url + f"/ui/qa?user_id={user}&{query}")
        shown = {row.get_attribute("data-experiment"): (row.get_attribute("data-variant"),
                                                          row.get_attribute("data-reason"))
                 for row in browser.find_elements(By.CSS_SELECTOR, "tr.assignment")}
        answer = client.get("/assignments", user_id=user, **attributes)
        assert shown == {k: (a["variant"], a["reason"])
                         for k, a in answer["assignments"].items()}, user
        assert shown
        if i == 0:
            assert shown["one_click_checkout"] == ("one_click", "override")
            console.shot(browser, "qa")


def test_a_ramp_shows_its_step_and_what_it_waits_for_as_the_api_does(
        browser: WebDriver, console: Console) -> None:
    admin = console.worker.client(TOKENS["alice"])
    key = "ramped_page"
    admin.request("POST", "/experiments", {
        "key": key, "description": "<b>ramp</b>",
        "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "n", "kind": "count", "event": "purchase"}],
        "guardrails": [{"metric": "n", "margin": 0.05}],
        "ramp": [{"coverage": 5, "min_hours": 48, "min_exposed": 100}, {"coverage": 50}]})
    admin.request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    ramp = admin.get(f"/experiments/{key}")["ramp"]
    browser.get(f"{console.url}/ui/experiments/{key}")
    section = browser.find_element(By.ID, "ramp")
    assert f"step {ramp['step']} of {ramp['steps']} · {ramp['state']}" in section.text
    waits = [li.text for li in section.find_elements(By.CSS_SELECTOR, "ul li")]
    assert len(waits) == len(ramp["waiting_for"]) == 2
    # The hours left tick on between the two reads; the users left do not.
    assert re.fullmatch(r"waiting for 4[78]\.\d\d more hours \(the step lasts at least 48\)",
                        waits[0])
    assert waits[1] == f"waiting for {ramp['waiting_for'][1]}" \
        == "waiting for 100 more exposed users (0 of 100)"
    assert section.find_element(By.CSS_SELECTOR, "li.current").text.startswith("5.0 %")
    assert "n no worse than 0.05 (relative)" in section.text
