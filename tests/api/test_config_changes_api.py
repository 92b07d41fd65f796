"""Layers, the holdout and refused changes over HTTP, against two real workers."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from abstream.admin_client import ApiError
from abstream.worker_process import WorkerProcess
from tests.api.test_config_api import api, experiment, new_key
from tests.workers import TOKENS

pytestmark = pytest.mark.infra


def raw(worker: WorkerProcess, method: str, path: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(f"{worker.url}{path}", body, method=method, headers={
        "Authorization": f"Bearer {TOKENS['alice']}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_a_dry_run_holdout_changes_nothing(workers: list[WorkerProcess]) -> None:
    before = workers[0].client().get("/config")
    status, preview = api(workers[0]).request("PUT", "/holdout", {"percent": 100},
                                              dry_run=True)
    assert status == 200 and preview["dry_run"] is True and preview["diff"]
    after = workers[1].client().get("/config")
    assert after["holdout"] == before["holdout"]


def test_a_layer_over_a_guarded_experiment_needs_review(workers: list[WorkerProcess]) -> None:
    layer, key = f"layer_{uuid.uuid4().hex[:6]}", new_key()
    api(workers[0]).request("PUT", f"/layers/{layer}", {"description": "v1"})
    api(workers[0]).request("POST", "/experiments", experiment(
        key, layer=layer, layer_slots=[[0, 999]], requires_approval=True))
    status, pending = api(workers[0]).request("PUT", f"/layers/{layer}", {"description": "v2"})
    assert status == 202 and pending["experiments"] == [key]
    listed = api(workers[0]).get(f"/experiments/{key}/changes")["pending"]
    assert [change["id"] for change in listed] == [pending["pending"]]
    served = {item["key"]: item for item in api(workers[0]).get("/config")["layers"]}
    assert served[layer]["description"] == "v1"  # not applied before review
    _, approved = api(workers[0], "bob").request(
        "POST", f"/experiments/{key}/changes/{pending['pending']}/approve")
    assert approved["layer"]["description"] == "v2" and approved["version"] == 2


def test_a_change_too_large_to_audit_is_413_and_not_applied(
        workers: list[WorkerProcess]) -> None:
    key = new_key()
    with pytest.raises(ApiError) as refused:
        api(workers[0]).request("POST", "/experiments",
                                experiment(key, description="d" * 600_000))
    assert refused.value.status in (413, 422)  # 422 once descriptions have a size limit
    with pytest.raises(ApiError) as missing:
        api(workers[1]).get(f"/experiments/{key}")
    assert missing.value.status == 404


@pytest.mark.parametrize("body", [b"[1, 2]", b"\"text\"", b"7", b"null"])
@pytest.mark.parametrize("method,path", [("POST", "/experiments"), ("PUT", "/holdout"),
                                         ("PUT", "/layers/some_layer")])
def test_bodies_that_are_not_objects_are_4xx(workers: list[WorkerProcess], method: str,
                                             path: str, body: bytes) -> None:
    status, answer = raw(workers[0], method, path, body)
    assert 400 <= status < 500 and answer["error"]


def test_a_patch_body_that_is_a_list_is_422(workers: list[WorkerProcess]) -> None:
    key = new_key()
    api(workers[0]).request("POST", "/experiments", experiment(key))
    request = urllib.request.Request(
        f"{workers[0].url}/experiments/{key}", b"[]", method="PATCH",
        headers={"Authorization": f"Bearer {TOKENS['alice']}", "If-Match": '"1"',
                 "Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 422


@pytest.mark.parametrize("reason", ["%ED%A0%80", "x" * 1001])
def test_odd_reasons_are_never_500(workers: list[WorkerProcess], reason: str) -> None:
    status, answer = raw(workers[0], "POST", f"/experiments?reason={reason}",
                         json.dumps(experiment(new_key())).encode())
    assert status in (201, 422), answer
    if len(reason) > 1000:
        assert status == 422 and "at most 1000 characters" in answer["details"][0]
