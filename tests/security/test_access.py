"""Every route refuses callers without its scope, on a real worker."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

import pytest

from abstream.worker_process import WorkerProcess
from api.access import PUBLIC
from api.routes import ROUTES, Route
from tests.workers import INTAKE_TOKEN, SCOPED_TOKENS, TOKENS
from topology.tokens import Scope

pytestmark = pytest.mark.infra
DENIED = (401, 403)
# Which of the scoped test tokens each scope admits; the unscoped tokens hold the first three.
ADMITTED = {Scope.ADMIN: {"ops"}, Scope.REVIEW: {"qa"}, Scope.READ: {"ops", "qa", "reader"},
            Scope.INTAKE: {"web"}}


def call(worker: WorkerProcess, method: str, path: str, token: str | None = None,
         body: object = None, content_type: str = "application/json") -> tuple[int, dict]:
    headers = {"Content-Type": content_type}
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(worker.url + path, data, headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as exc:
        raw, status = exc.read(), exc.code
    try:
        return status, json.loads(raw) if raw else {}
    except ValueError:
        return status, {}  # /metrics is text


def path_of(route: Route) -> str:
    return (route.path.replace("{key}", "no_such_key").replace("{change}", "no-such-change")
            .replace("{name}", "console.css"))


def body_of(route: Route) -> object:
    return {"user_id": "u1"} if route.path == "/assignments" else {}


SCOPED_ROUTES = [r for r in ROUTES if isinstance(r.rule, Scope)]


@pytest.mark.parametrize("route", SCOPED_ROUTES, ids=lambda r: f"{r.method} {r.path}")
def test_each_route_admits_exactly_the_tokens_of_its_scope(
    workers: list[WorkerProcess], guarded_worker: WorkerProcess, route: Route,
) -> None:
    # Reads are open on the shared workers, so every token may read there; the guarded
    # worker closes them, and opens the intake instead.
    worker = guarded_worker if route.rule is Scope.READ else workers[0]
    body = body_of(route) if route.method in ("POST", "PUT", "PATCH") else None
    for actor, (token, _) in SCOPED_TOKENS.items():
        status, answer = call(worker, route.method, path_of(route), token, body)
        if actor in ADMITTED[route.rule]:
            assert status not in DENIED, (actor, status, answer)
        else:
            assert status == 403 and route.rule.value in answer["error"], (actor, answer)
    status, _ = call(worker, route.method, path_of(route), "not-a-token-anyone-has", body)
    assert status == 401
    status, answer = call(worker, route.method, path_of(route), None, body)
    assert status == 401, answer


def test_open_reads_admit_every_token_and_none(workers: list[WorkerProcess]) -> None:
    for route in (r for r in SCOPED_ROUTES if r.rule is Scope.READ):
        for token in [None, *(token for token, _ in SCOPED_TOKENS.values())]:
            assert call(workers[0], route.method, path_of(route), token)[0] not in DENIED


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_activation_through_assignments_needs_the_intake_scope(
    workers: list[WorkerProcess], method: str,
) -> None:
    path, body = "/assignments?user_id=u1", None
    if method == "POST":
        path, body = "/assignments", {"user_id": "u1", "activate": True}
    else:
        path += "&activate=true"
    assert call(workers[0], method, path, None, body)[0] == 401
    assert call(workers[0], method, path, TOKENS["alice"], body)[0] == 403  # admin, not intake
    status, answer = call(workers[0], method, path, INTAKE_TOKEN, body)
    assert status == 200 and "exposures_logged" in answer


def test_unscoped_tokens_may_do_all_but_send_events(workers: list[WorkerProcess]) -> None:
    assert call(workers[0], "GET", "/experiments", TOKENS["alice"])[0] == 200
    status, answer = call(workers[0], "POST", "/events", TOKENS["alice"], [])
    assert status == 403 and "intake" in answer["error"]


def test_public_routes_answer_anyone(guarded_worker: WorkerProcess) -> None:
    for route in (r for r in ROUTES if r.rule == PUBLIC):
        assert call(guarded_worker, route.method, path_of(route))[0] == 200, route


def test_closed_reads_need_a_token_on_every_read_route(guarded_worker: WorkerProcess) -> None:
    reads = [r for r in ROUTES if r.rule is Scope.READ or r.path == "/assignments"]
    for route in reads:
        body = body_of(route) if route.method == "POST" else None
        status, answer = call(guarded_worker, route.method, path_of(route), None, body)
        assert status == 401 and "read" in answer["error"], route
        reader = SCOPED_TOKENS["reader"][0]
        assert call(guarded_worker, route.method, path_of(route), reader, body)[0] not in DENIED


def test_an_open_intake_takes_events_without_a_token_and_says_so(
    guarded_worker: WorkerProcess,
) -> None:
    status, answer = call(guarded_worker, "POST", "/events", None,
                          [{"user_id": "u1", "name": "purchase", "value": 1.0}])
    assert status == 200 and answer["accepted"] == 1
    assert "ABSTREAM_API_OPEN_INTAKE is true" in guarded_worker.log_file.read_text()


def test_bodies_must_be_json(workers: list[WorkerProcess]) -> None:
    event = [{"user_id": "u1", "name": "purchase", "value": 1.0}]
    for content_type in ("text/plain", "application/x-www-form-urlencoded"):
        status, answer = call(workers[0], "POST", "/events", INTAKE_TOKEN, event, content_type)
        assert status == 415 and "application/json" in answer["error"]


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None


def test_closed_reads_send_browsers_to_sign_in_and_a_session_then_reads(
        guarded_worker: WorkerProcess) -> None:
    opener = urllib.request.build_opener(_NoRedirects)
    page = urllib.request.Request(guarded_worker.url + "/ui/experiments/x?a=1",
                                  headers={"Accept": "text/html"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(page, timeout=30)
    assert refused.value.code == 303
    assert refused.value.headers["Location"] == "/ui/login?next=%2Fui%2Fexperiments%2Fx%3Fa%3D1"
    sign_in = urllib.request.Request(
        guarded_worker.url + "/ui/login", f"token={SCOPED_TOKENS['reader'][0]}".encode(),
        {"Content-Type": "application/x-www-form-urlencoded"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as signed_in:
        opener.open(sign_in, timeout=30)
    cookie = signed_in.value.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/ui/" in cookie
    listing = urllib.request.Request(guarded_worker.url + "/ui/", headers={
        "Accept": "text/html", "Cookie": cookie.split(";")[0]})
    with opener.open(listing, timeout=30) as response:
        assert response.status == 200 and b"Sign out" in response.read()
        assert "script-src 'self'" in response.headers["Content-Security-Policy"]
    forged = cookie.split(";")[0][:-4] + "0000"
    with pytest.raises(urllib.error.HTTPError) as refused:
        opener.open(urllib.request.Request(guarded_worker.url + "/ui/", headers={
            "Accept": "text/html", "Cookie": forged}), timeout=30)
    assert refused.value.code == 303  # a tampered cookie is no session


def test_a_session_without_the_admin_scope_cannot_write(guarded_worker: WorkerProcess) -> None:
    status, answer = call(guarded_worker, "GET", "/ui/new", SCOPED_TOKENS["reader"][0])
    assert status == 403 and "admin" in answer["error"]


def _raw(worker: WorkerProcess, method: str, path: str, body: bytes | None = None,
         headers: dict[str, str] | None = None) -> int:
    request = urllib.request.Request(worker.url + path, body, headers or {}, method=method)
    try:
        with urllib.request.build_opener(_NoRedirects).open(request, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def test_console_forms_from_another_site_are_refused(guarded_worker: WorkerProcess) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    sign_in = f"token={SCOPED_TOKENS['reader'][0]}".encode()
    assert _raw(guarded_worker, "POST", "/ui/login", sign_in,
                {**form, "Origin": "http://evil.example"}) == 403
    assert _raw(guarded_worker, "POST", "/ui/login", sign_in,
                {**form, "Sec-Fetch-Site": "cross-site"}) == 403
    assert _raw(guarded_worker, "POST", "/ui/logout", b"",
                {**form, "Sec-Fetch-Site": "same-site"}) == 403
    own = guarded_worker.url.removeprefix("http://")
    assert _raw(guarded_worker, "POST", "/ui/login", sign_in,
                {**form, "Origin": f"http://{own}", "Sec-Fetch-Site": "same-origin"}) == 303


def test_hostile_console_input_is_a_clear_error_never_a_crash(
        guarded_worker: WorkerProcess) -> None:
    form = {"Content-Type": "application/x-www-form-urlencoded"}
    assert _raw(guarded_worker, "POST", "/ui/login", b"token=\xff\xfe", form) == 400
    assert _raw(guarded_worker, "POST", "/ui/login", b"token=x",
                {"Content-Type": "application/x-www-form-urlencoded; charset=bogus"}) == 400
    assert _raw(guarded_worker, "POST", "/ui/login", b"token=x&next=/ui/%0d%0aSet-Cookie:a=b",
                form) == 200  # a sign-in that fails, shown again
    assert _raw(guarded_worker, "GET", "/ui/", None, {
        "Accept": "text/html", "Cookie": 'abstream_session="x.\\377"'}) == 303
    reader = {"Authorization": f"Bearer {SCOPED_TOKENS['reader'][0]}"}
    for mde in ("1e-200", "1e-160", "nan", "-1", "0", "inf", "lots"):
        status = _raw(guarded_worker, "GET", f"/experiments/no_such_key/power?mde={mde}",
                      None, reader)
        assert status in (400, 404), (mde, status)
    assert "Traceback" not in guarded_worker.log_file.read_text()
