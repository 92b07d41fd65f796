"""Changing experiments through the console in a real browser: previews, approvals,
drafts, and what an attacker could try (script in strings, writes without CSRF)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from abstream.admin_client import AdminClient
from tests.console.conftest import Console, click_and_wait, sign_in
from tests.workers import INTAKE_TOKEN, TOKENS

pytestmark = pytest.mark.infra
T = TypeVar("T")
HOSTILE = '<script>document.title="pwned"</script><img src=x onerror="document.title=\'pwned\'">'


def eventually(check: Callable[[], T], timeout_s: float = 20.0) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        value = check()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(0.25)


def new_active(client: AdminClient, **fields: Any) -> str:
    key = f"ui_{uuid.uuid4().hex[:8]}"
    client.request("POST", "/experiments", {
        "key": key, "description": "made by a console test",
        "variants": [{"key": "control", "weight": 50}, {"key": "treatment", "weight": 50}],
        "metrics": [{"key": "buy", "kind": "conversion", "event": "purchase"}], **fields})
    status, body = client.request("PATCH", f"/experiments/{key}", {"status": "active"},
                                  version=1)
    if status == 202:  # requires approval: another actor approves the activation
        reviewer = AdminClient(client.base_url, TOKENS["bob"])
        reviewer.request("POST", f"/experiments/{key}/changes/{body['pending']}/approve")
    return key


def assignments(client: AdminClient, key: str, users: int) -> list[dict[str, Any]]:
    return [client.get("/assignments", user_id=f"{key}-user-{i}")["assignments"][key]
            for i in range(users)]


def enrolled_share(client: AdminClient, key: str, users: int = 600) -> float:
    return sum(a["enrolled"] for a in assignments(client, key, users)) / users


def act(browser: WebDriver, action: str, reason: str, **fields: str) -> None:
    """Fill an action's form on the experiment page and ask for its preview."""
    form = browser.find_element(By.ID, f"action-{action}")
    for name, value in fields.items():
        box = form.find_element(By.NAME, name)
        box.clear()
        box.send_keys(value)
    form.find_element(By.NAME, "reason").send_keys(reason)
    click_and_wait(browser, form.find_element(By.CSS_SELECTOR, "button"))
    shown = browser.find_elements(By.ID, "preview")
    assert shown, browser.find_element(By.TAG_NAME, "main").text


def test_a_ramp_shows_its_preview_then_applies_and_assignments_follow(
        browser: WebDriver, console: Console) -> None:
    client = console.worker.client(TOKENS["alice"])
    key = new_active(client)
    assert enrolled_share(client, key) > 0.9
    sign_in(browser, console, TOKENS["alice"])
    browser.get(console.url + f"/ui/experiments/{key}")
    act(browser, "ramp", "ramp down to a third", coverage="30")
    assert browser.find_element(By.ID, "users-moved").text == "0.0 %"  # none change variant
    leaving = [int(row.find_elements(By.TAG_NAME, "td")[5].text)
               for row in browser.find_elements(By.CSS_SELECTOR, "#moves tbody tr")]
    assert sum(leaving) == 7_000  # buckets of the 10,000 that leave the experiment
    assert "keep the current phase" in browser.find_element(By.ID, "new-phase").text
    diff = browser.find_element(By.CSS_SELECTOR, "table.diff").text
    assert "coverage" in diff and "30" in diff
    assert client.get(f"/experiments/{key}")["experiment"]["coverage"] == 100  # a dry run
    console.shot(browser, "preview")
    click_and_wait(browser, browser.find_element(By.ID, "apply"))
    assert "Applied" in browser.find_element(By.ID, "flash").text
    assert float(browser.find_element(By.ID, "coverage").text) == 30
    assert client.get(f"/experiments/{key}")["experiment"]["coverage"] == 30
    latest = client.get(f"/experiments/{key}/history")["history"][-1]
    assert (latest["actor"], latest["reason"]) == ("alice", "ramp down to a third")
    share = eventually(lambda: (s := enrolled_share(client, key)) < 0.5 and s)
    assert 0.24 < share < 0.36


def test_pause_through_the_console_serves_control(browser: WebDriver, console: Console) -> None:
    client = console.worker.client(TOKENS["alice"])
    key = new_active(client)
    assert {a["variant"] for a in assignments(client, key, 50)} == {"control", "treatment"}
    sign_in(browser, console, TOKENS["alice"])
    browser.get(console.url + f"/ui/experiments/{key}")
    act(browser, "pause", "a bug report")
    click_and_wait(browser, browser.find_element(By.ID, "apply"))
    assert browser.find_element(By.ID, "status").text == "paused"
    answers = eventually(lambda: (found := assignments(client, key, 50))
                         and all(a["reason"] == "paused" for a in found) and found)
    assert answers and {(a["variant"], a["reason"]) for a in answers} == {("control", "paused")}


def test_a_pending_change_needs_a_second_actor(browser: WebDriver, console: Console) -> None:
    client = console.worker.client(TOKENS["alice"])
    key = new_active(client, requires_approval=True)
    sign_in(browser, console, TOKENS["alice"])
    browser.get(console.url + f"/ui/experiments/{key}")
    act(browser, "ramp", "half, please", coverage="50")
    click_and_wait(browser, browser.find_element(By.ID, "apply"))  # "Propose"
    assert "waits for a reviewer" in browser.find_element(By.ID, "flash").text
    (pending,) = browser.find_elements(By.CSS_SELECTOR, "#pending .pending")
    assert pending.find_element(By.CSS_SELECTOR, ".author").text == "alice"
    console.shot(browser, "pending")
    click_and_wait(browser, pending.find_element(By.CSS_SELECTOR, "button.approve"))
    assert browser.find_element(By.TAG_NAME, "h1").text == "403"
    assert "someone other than its author" in browser.find_element(By.ID, "error-message").text
    assert client.get(f"/experiments/{key}")["experiment"]["coverage"] == 100
    sign_in(browser, console, TOKENS["bob"])
    browser.get(console.url + f"/ui/experiments/{key}")
    click_and_wait(browser, browser.find_element(By.CSS_SELECTOR, "#pending button.approve"))
    assert "approved and applied" in browser.find_element(By.ID, "flash").text
    assert client.get(f"/experiments/{key}")["experiment"]["coverage"] == 50
    assert client.get(f"/experiments/{key}/changes")["pending"] == []
    actors = [h["actor"] for h in client.get(f"/experiments/{key}/history")["history"]]
    assert actors[-2:] == ["alice", "bob"]


def fill_draft(browser: WebDriver, values: dict[str, str]) -> None:
    for name, value in values.items():
        box = browser.find_element(By.ID, name)
        box.clear()
        box.send_keys(value)
    click_and_wait(browser, browser.find_element(By.ID, "save-draft"))


def test_an_invalid_draft_shows_each_problem_next_to_its_field(
        browser: WebDriver, console: Console) -> None:
    key = f"ui_draft_{uuid.uuid4().hex[:6]}"
    sign_in(browser, console, TOKENS["alice"])
    browser.get(console.url + "/ui/new")
    fill_draft(browser, {"key": key, "variants": "a 50\na 50", "coverage": "150",
                         "metrics": "buy conversion purchase", "layer_slots": "0-99999"})
    problems = {p.get_attribute("data-field") for p in
                browser.find_elements(By.CSS_SELECTOR, ".field-problem")}
    assert {"variants", "coverage", "layer_slots"} <= problems
    for field in ("variants", "coverage", "layer_slots"):
        box = browser.find_element(By.ID, f"field-{field}")
        assert "invalid" in box.get_attribute("class")
    assert browser.find_element(By.ID, "variants").get_attribute("value") == "a 50\na 50"
    console.shot(browser, "draft-errors")
    fill_draft(browser, {"metrics": "buy conversion"})
    (problem,) = browser.find_elements(By.CSS_SELECTOR, ".field-problem[data-field=metrics]")
    assert "key kind event" in problem.text
    client = console.worker.client(TOKENS["alice"])
    assert client.request("GET", "/experiments")[1]["experiments"] and all(
        e["key"] != key for e in client.get("/experiments")["experiments"])
    fill_draft(browser, {"variants": "a 50\nb 50", "coverage": "100", "layer_slots": "",
                         "metrics": "buy conversion purchase"})
    assert browser.find_element(By.ID, "status").text == "draft"
    variants = client.get(f"/experiments/{key}")["experiment"]["variants"]
    assert [(v["key"], v["weight"]) for v in variants] == [("a", 50), ("b", 50)]


def test_user_strings_are_shown_as_text_never_run(browser: WebDriver, console: Console) -> None:
    client = console.worker.client(TOKENS["alice"])
    key = f"ui_xss_{uuid.uuid4().hex[:6]}"
    client.request("POST", "/experiments", {
        "key": key, "description": HOSTILE,
        "variants": [{"key": "control", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "buy", "kind": "conversion", "event": "purchase"}]})
    intake = AdminClient(console.url, INTAKE_TOKEN)
    intake.request("POST", "/events", [{"user_id": "u1", "name": HOSTILE, "value": "x"}])
    for path in ("/ui/", f"/ui/experiments/{key}"):
        browser.get(console.url + path)
        shown = [d.text for d in browser.find_elements(By.CSS_SELECTOR, ".description")]
        assert HOSTILE in shown
        assert browser.title != "pwned"
        assert browser.find_elements(By.CSS_SELECTOR, ".description img") == []
    browser.get(console.url + "/ui/qa?user_id=u1&" + "country=%3Cscript%3Ealert(1)%3C/script%3E")
    names = [b.get_attribute("value") for b in browser.find_elements(By.NAME, "attr_value")]
    assert "<script>alert(1)</script>" in names

    def dead_letter_shown() -> bool:
        browser.get(console.url + "/ui/operations")
        return any("<script>" in p.text for p in
                   browser.find_elements(By.CSS_SELECTOR, "pre.payload"))

    assert eventually(dead_letter_shown, timeout_s=45)
    assert browser.title != "pwned"
    policy = browser.execute_script(
        "return fetch('/ui/').then(r => r.headers.get('Content-Security-Policy'))")
    assert "script-src 'self'" in policy


FETCH = """
const [path, body, done] = arguments;
fetch(path, {method: 'POST', body: body,
             headers: {'Content-Type': 'application/x-www-form-urlencoded'}})
  .then(r => done(r.status), e => done(String(e)));
"""


def test_a_write_without_the_csrf_token_is_refused(browser: WebDriver, console: Console) -> None:
    client = console.worker.client(TOKENS["alice"])
    key = new_active(client)
    sign_in(browser, console, TOKENS["alice"])
    browser.get(console.url + f"/ui/experiments/{key}")
    apply = f"/ui/experiments/{key}/apply"
    form = "action=pause&version=2&reason=forged"
    assert browser.execute_async_script(FETCH, apply, form) == 403
    assert browser.execute_async_script(FETCH, apply, form + "&csrf=0123abcd") == 403
    assert client.get(f"/experiments/{key}")["experiment"]["status"] == "active"
    csrf = browser.find_element(By.NAME, "csrf").get_attribute("value")
    assert browser.execute_async_script(FETCH, apply, f"{form}&csrf={csrf}") == 200
    assert client.get(f"/experiments/{key}")["experiment"]["status"] == "paused"


def test_a_sample_ratio_mismatch_shows_its_banner_with_the_apis_counts(
        browser: WebDriver, console: Console) -> None:
    client = console.worker.client(TOKENS["alice"])
    key = new_active(client)
    now = int(time.time() * 1000)
    exposures = [{"event_id": f"{key}-{i}", "user_id": f"{key}-user-{i}", "experiment": key,
                  "variant": a["variant"], "timestamp": now}
                 for i, a in enumerate(assignments(client, key, 2400))  # SRM needs 1,000
                 if a["enrolled"] and (a["variant"] == "control" or i % 4 == 0)]
    intake = AdminClient(console.url, INTAKE_TOKEN)
    for start in range(0, len(exposures), 500):
        _, answer = intake.request("POST", "/exposures", exposures[start:start + 500])
        assert answer["rejected"] == [], answer

    def all_counted() -> bool:
        slices = client.get(f"/experiments/{key}/results")["slices"]
        return bool(slices) and sum(slices[0]["exposures"].values()) == len(exposures)

    # The banner may show as soon as 1,000 are counted; compare once every one is.
    assert eventually(all_counted, timeout_s=45), str(client.get(f"/experiments/{key}/results"))
    report = client.get(f"/experiments/{key}/results")
    srm = report["slices"][0]["srm"]
    assert srm["status"] == "mismatch"
    browser.get(console.url + f"/ui/experiments/{key}")
    text = browser.find_element(By.ID, "srm-banner").text
    for variant, n in report["slices"][0]["exposures"].items():
        assert f"{variant} {n:,} {srm['expected'][variant]:.6g}" in text


def test_a_draft_saved_from_a_stale_form_is_refused_not_overwritten(
        browser: WebDriver, console: Console) -> None:
    client = console.worker.client(TOKENS["alice"])
    key = f"ui_edit_{uuid.uuid4().hex[:6]}"
    client.request("POST", "/experiments", {
        "key": key, "description": "first",
        "variants": [{"key": "control", "weight": 50}, {"key": "b", "weight": 50}],
        "metrics": [{"key": "buy", "kind": "conversion", "event": "purchase"}]})
    sign_in(browser, console, TOKENS["alice"])
    browser.get(console.url + f"/ui/experiments/{key}/edit")
    client.request("PATCH", f"/experiments/{key}", {"description": "changed meanwhile"},
                   version=1)
    fill_draft(browser, {"description": "from the stale form"})
    assert "is at version 2, not 1" in browser.find_element(
        By.ID, "general-problems").text
    assert client.get(f"/experiments/{key}")["experiment"]["description"] == \
        "changed meanwhile"
    browser.get(console.url + f"/ui/experiments/{key}/edit")  # opened afresh: it saves
    fill_draft(browser, {"description": "from a fresh form"})
    assert "Applied: now at version 3" in browser.find_element(By.ID, "flash").text
    assert client.get(f"/experiments/{key}")["experiment"]["description"] == \
        "from a fresh form"
