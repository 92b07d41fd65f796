"""Hostile configuration changes against a real worker: each is refused with a reason
(or run safely), and the worker stays up."""

from __future__ import annotations

import json
import socket
import time
import urllib.error
import urllib.request
from typing import Any

import pytest

from abstream.worker_process import WorkerProcess
from tests.api.test_config_api import experiment, new_key, wait_until_served
from tests.security.test_access import call
from tests.workers import TOKENS

pytestmark = pytest.mark.infra
ADMIN = TOKENS["alice"]


def healthy(worker: WorkerProcess) -> bool:
    with urllib.request.urlopen(f"{worker.url}/health", timeout=5) as response:
        return response.status == 200


def create(worker: WorkerProcess, document: Any) -> tuple[int, dict]:
    return call(worker, "POST", "/experiments", ADMIN, document)


def nested(levels: int) -> str:
    return '{"key": "deep", "x": ' + "[" * levels + "]" * levels + "}"


def test_a_catastrophic_regex_runs_in_linear_time(workers: list[WorkerProcess]) -> None:
    key = new_key()
    status, answer = create(workers[0], experiment(key, targeting={
        "attribute": "name", "op": "regex", "value": "^(a+)+$"}))
    assert status == 201, answer
    workers[0].client(ADMIN).request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    wait_until_served(workers[0], key, "active")
    started = time.monotonic()
    status, answer = call(workers[0], "GET", f"/assignments?user_id=u1&name={'a' * 30}!")
    assert status == 200 and time.monotonic() - started < 2.0
    assert answer["assignments"][key]["reason"] == "targeted-out"
    status, answer = call(workers[0], "GET", f"/assignments?user_id=u1&name={'a' * 5000}")
    assert status == 200 and answer["assignments"][key]["reason"] == "targeted-out"  # too long
    assert healthy(workers[0])


def test_deeply_nested_json_is_a_400(workers: list[WorkerProcess]) -> None:
    request = urllib.request.Request(
        f"{workers[0].url}/experiments", nested(10_000).encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN}"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 400 and "nested more than" in refused.value.read().decode()
    assert healthy(workers[0])


@pytest.mark.parametrize("weight", ["NaN", "Infinity", "1e400"])
def test_weights_that_are_not_finite_are_refused(
    workers: list[WorkerProcess], weight: str,
) -> None:
    document = json.dumps(experiment(new_key())).replace('"weight": 50', f'"weight": {weight}', 1)
    request = urllib.request.Request(
        f"{workers[0].url}/experiments", document.encode(),
        {"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN}"}, method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    answer = json.loads(refused.value.read())
    assert refused.value.code == 422 and any("finite" in d for d in answer["details"]), answer
    assert healthy(workers[0])


@pytest.mark.parametrize(("change", "reason"), [
    ({"targeting": {"not": None}}, "nested more than 64 levels"),
    ({"description": "x" * 600_000}, "longer than 10,000 characters"),
    ({"layer": "not a key!"}, "layer"),
    ({"metrics": [{"key": "m", "kind": "count", "event": "bad event!"}]}, "event"),
])
def test_hostile_fields_are_refused_with_the_field_and_reason(
    workers: list[WorkerProcess], change: dict, reason: str,
) -> None:
    if change.get("targeting") == {"not": None}:
        condition: dict = {"attribute": "country", "op": "eq", "value": "US"}
        for _ in range(500):
            condition = {"not": condition}
        change = {"targeting": condition}
    key = new_key()
    status, answer = create(workers[0], experiment(key, **change))
    said = [answer["error"], *answer["details"]]
    assert status in (400, 422) and any(reason in d for d in said), answer
    assert call(workers[0], "GET", f"/experiments/{key}")[0] == 404  # nothing applied
    assert healthy(workers[0])


def test_a_body_sent_slowly_is_timed_out(guarded_worker: WorkerProcess) -> None:
    body = json.dumps(experiment(new_key())).encode()
    with socket.create_connection(("127.0.0.1", guarded_worker.port), timeout=30) as sock:
        sock.sendall(b"POST /experiments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json"
                     b"\r\nAuthorization: Bearer " + ADMIN.encode() +
                     b"\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        started = time.monotonic()
        answer = b""
        for byte in body[:20]:  # a byte a second: the worker gives up after 2 s
            try:
                sock.sendall(bytes([byte]))
            except OSError:
                break
            sock.settimeout(1.0)
            try:
                answer = sock.recv(4096)
            except TimeoutError:
                continue
            if answer:
                break
    assert answer.startswith(b"HTTP/1.1 408"), answer
    assert time.monotonic() - started < 10
    assert healthy(guarded_worker)
