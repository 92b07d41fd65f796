"""Input that is valid in form but costly or poisonous downstream: numbers too large to
sum, compressed bodies, costly patterns, undecodable headers, drafts, odd keys."""

from __future__ import annotations

import gzip
import json
import socket
import time
import urllib.error
import urllib.request

import pytest

from abstream.worker_process import WorkerProcess
from tests.api.test_config_api import experiment, new_key
from tests.security.test_access import call
from tests.security.test_config_attacks import create, healthy
from tests.security.test_hostile_input import create_experiment
from tests.workers import INTAKE_TOKEN, TOKENS

pytestmark = pytest.mark.infra
ADMIN = TOKENS["alice"]


def raw_request(worker: WorkerProcess, head: bytes) -> bytes:
    with socket.create_connection(("127.0.0.1", worker.port), timeout=10) as sock:
        sock.sendall(head)
        return sock.recv(65536)


def test_goal_values_too_large_to_sum_are_refused_and_results_stay_readable(
    workers: list[WorkerProcess],
) -> None:
    key = create_experiment(workers[0])
    events = [{"user_id": "u1", "name": "purchase", "value": value}
              for value in (1.7976931348623157e308, 1e150, 10**401, 12.5)]
    status, answer = call(workers[0], "POST", "/events", INTAKE_TOKEN, events)
    assert status == 200 and answer["accepted"] == 1
    assert [r["index"] for r in answer["rejected"]] == [0, 1, 2]
    assert all("magnitude at most" in r["error"] for r in answer["rejected"])
    assert call(workers[0], "GET", f"/experiments/{key}/results")[0] == 200


def test_compressed_bodies_are_refused_without_inflating_them(
    workers: list[WorkerProcess],
) -> None:
    bomb = gzip.compress(b"[" + b" " * (64 * 1024 * 1024) + b"]")  # 64 MiB once inflated
    request = urllib.request.Request(
        f"{workers[0].url}/events", bomb, method="POST",
        headers={"Content-Type": "application/json", "Content-Encoding": "gzip",
                 "Authorization": f"Bearer {INTAKE_TOKEN}"})
    started = time.monotonic()
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 415 and "uncompressed" in refused.value.read().decode()
    assert time.monotonic() - started < 2.0 and healthy(workers[0])


def test_an_undecodable_authorization_header_is_a_401(workers: list[WorkerProcess]) -> None:
    answer = raw_request(workers[0], b"GET /experiments HTTP/1.1\r\nHost: x\r\n"
                                     b"Authorization: Bearer \xe9\xe9\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 401"), answer[:200]


def test_a_token_in_a_malformed_header_stays_out_of_the_log(
    workers: list[WorkerProcess],
) -> None:
    answer = raw_request(workers[0], b"GET /experiments HTTP/1.1\r\nHost: x\r\n"
                                     b"Authorization: Bearer " + ADMIN.encode() + b"\x00\r\n\r\n")
    assert answer.startswith(b"HTTP/1.0 400")  # the caller sees what it sent: it holds it
    time.sleep(0.5)
    assert ADMIN not in workers[0].log_file.read_text(errors="replace")


@pytest.mark.parametrize(("change", "field", "reason"), [
    ({"coverage": 10**401}, "coverage", "finite"),
    ({"start": "9999-12-31T23:59:59+00:00", "end": "1970-01-01T00:00:00"}, "end", "after"),
    ({"targeting": {"attribute": "name", "op": "regex", "value": ".{1000}.{1000}"}},
     "targeting.value", "too costly"),
])
def test_numbers_times_and_patterns_that_cannot_be_used_are_422(
    workers: list[WorkerProcess], change: dict, field: str, reason: str,
) -> None:
    status, answer = create(workers[0], experiment(new_key(), **change))
    assert status == 422 and any(f"{field}: " in d and reason in d
                                 for d in answer["details"]), answer


def test_payloads_with_nan_and_keys_with_a_newline_are_422(
    workers: list[WorkerProcess],
) -> None:
    document = json.dumps(experiment(new_key())).replace(
        '"weight": 50}', '"weight": 50, "config": {"x": NaN}}', 1)
    request = urllib.request.Request(
        f"{workers[0].url}/experiments", document.encode(), method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {ADMIN}"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=10)
    assert refused.value.code == 422 and "finite numbers only" in refused.value.read().decode()
    status, answer = create(workers[0], experiment(new_key() + "\n"))
    assert status == 422 and any("key: " in d for d in answer["details"])


def test_exposures_of_a_draft_are_refused(workers: list[WorkerProcess]) -> None:
    key = new_key()
    assert create(workers[0], experiment(key))[0] == 201  # a draft: never served
    status, answer = call(workers[0], "POST", "/exposures", INTAKE_TOKEN,
                          [{"user_id": "u1", "experiment": key, "variant": "control"}])
    assert status == 200 and answer["accepted"] == 0
    assert "is a draft" in answer["rejected"][0]["error"]


def test_a_user_id_longer_than_events_allow_gets_control_with_a_reason(
    workers: list[WorkerProcess],
) -> None:
    status, answer = call(workers[0], "GET", f"/assignments?user_id={'u' * 300}")
    assert status == 200 and "at most 256 characters" in answer["error"]
    assert all(a["reason"] == "error" for a in answer["assignments"].values())


def test_activation_refuses_attributes_and_flags_the_intake_would(
    workers: list[WorkerProcess],
) -> None:
    key = create_experiment(workers[0])
    status, answer = call(workers[0], "POST", "/assignments", INTAKE_TOKEN, {
        "user_id": f"{key}-u1", "attributes": {"k": {"a": [1, 2]}}, "activate": True})
    assert status == 200 and answer["exposures_logged"] == 0
    assert "string, number or boolean" in answer["exposure_error"]
    status, answer = call(workers[0], "POST", "/assignments", INTAKE_TOKEN,
                          {"user_id": f"{key}-u1", "activate": "true"})
    assert status == 422 and "activate: must be true or false" in answer["error"]
