"""The config service end to end: two real workers, the real broker, HTTP."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from abstream.admin_client import AdminClient, ApiError
from abstream.worker_process import WorkerProcess
from tests.workers import TOKENS

pytestmark = pytest.mark.infra
PROPAGATION_DEADLINE_S = 10.0


def new_key() -> str:
    return f"exp_{uuid.uuid4().hex[:10]}"


def experiment(key: str, **changes: Any) -> dict[str, Any]:
    return {"key": key, "variants": [{"key": "control", "weight": 50},
                                     {"key": "treatment", "weight": 50}], **changes}


def api(worker: WorkerProcess, actor: str | None = "alice") -> AdminClient:
    return worker.client(TOKENS[actor] if actor else None)


def served(worker: WorkerProcess, key: str) -> dict[str, Any] | None:
    config = worker.client().get("/config")
    return next((e for e in config["experiments"] if e["key"] == key), None)


def wait_until_served(worker: WorkerProcess, key: str, status: str) -> float:
    start = time.monotonic()
    while time.monotonic() - start < PROPAGATION_DEADLINE_S:
        found = served(worker, key)
        if found is not None and found["status"] == status:
            return time.monotonic() - start
        time.sleep(0.02)
    raise AssertionError(f"{worker.url} did not serve {key} as {status}")


def eventually(read: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
    """What `read` gives once `done` holds, or the last reading after the deadline."""
    start = time.monotonic()
    found = read()
    while not done(found) and time.monotonic() - start < PROPAGATION_DEADLINE_S:
        time.sleep(0.02)
        found = read()
    return found


def test_create_activate_ramp_pause_round_trip(workers: list[WorkerProcess]) -> None:
    first, second = workers
    key = new_key()
    status, created = api(first).request("POST", "/experiments", experiment(key, coverage=10))
    assert status == 201 and created["version"] == 1
    assert created["experiment"]["status"] == "draft"
    assert served(first, key) is None  # drafts are not served

    _, active = api(first).request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    assert active["version"] == 2
    wait_until_served(second, key, "active")

    _, ramped = api(second).request("PATCH", f"/experiments/{key}", {"coverage": 60}, 2)
    assert ramped["users_moved_percent"] == 0 and ramped["new_phase"] is False
    assert ramped["moves"]["treatment"]["enrolled"] == 2500

    _, reweighted = api(second).request(
        "PATCH", f"/experiments/{key}",
        {"variants": [{"key": "control", "weight": 40}, {"key": "treatment", "weight": 60}]}, 3,
    )
    assert reweighted["new_phase"] is True
    assert [p["number"] for p in reweighted["experiment"]["phases"]] == [1, 2]

    _, paused = api(first).request("PATCH", f"/experiments/{key}", {"status": "paused"}, 4)
    assert paused["version"] == 5
    wait_until_served(first, key, "paused")
    wait_until_served(second, key, "paused")
    shown = api(second).get(f"/experiments/{key}")
    assert shown["version"] == 5 and shown["experiment"]["coverage"] == 60

    history = api(first).get(f"/experiments/{key}/history")["history"]
    assert [entry["action"] for entry in history] == ["create"] + ["update"] * 4


def test_both_workers_see_a_kill(workers: list[WorkerProcess]) -> None:
    first, second = workers
    key = new_key()
    api(first).request("POST", "/experiments", experiment(key, status="draft"))
    api(first).request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    api(second).request("PATCH", f"/experiments/{key}",
                        {"status": "concluded", "shipped_variant": None}, 2)
    seen = [wait_until_served(worker, key, "concluded") for worker in workers]
    print(f"kill visible on both workers after {max(seen) * 1000:.0f} ms")
    for worker in workers:  # everyone is shown the control now, and nobody is enrolled
        answer = worker.client().get("/assignments", user_id="someone")["assignments"][key]
        assert (answer["variant"], answer["reason"], answer["enrolled"]) == (
            "control", "concluded", False)


def test_stale_write_is_refused_with_409(workers: list[WorkerProcess]) -> None:
    key = new_key()
    api(workers[0]).request("POST", "/experiments", experiment(key))
    api(workers[0]).request("PATCH", f"/experiments/{key}", {"description": "first"}, 1)
    with pytest.raises(ApiError) as raised:
        api(workers[1]).request("PATCH", f"/experiments/{key}", {"description": "late"}, 1)
    assert raised.value.status == 409
    with pytest.raises(ApiError) as missing:
        api(workers[1]).request("PATCH", f"/experiments/{key}", {"description": "late"})
    assert missing.value.status == 428


def test_concurrent_writes_on_two_workers_one_wins(workers: list[WorkerProcess]) -> None:
    key = new_key()
    api(workers[0]).request("POST", "/experiments", experiment(key))
    wait = threading.Barrier(2)
    outcomes: list[int] = []

    def write(worker: WorkerProcess, text: str) -> None:
        wait.wait()
        try:
            outcomes.append(api(worker).request("PATCH", f"/experiments/{key}",
                                                {"description": text}, 1)[0])
        except ApiError as exc:
            outcomes.append(exc.status)

    threads = [threading.Thread(target=write, args=(w, f"from {w.port}")) for w in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == [200, 409]
    assert api(workers[1]).get(f"/experiments/{key}")["version"] == 2


def test_writes_need_a_valid_token(workers: list[WorkerProcess]) -> None:
    anonymous = workers[0].client()
    wrong = workers[0].client("not-a-real-token")
    for client in (anonymous, wrong):
        with pytest.raises(ApiError) as raised:
            client.request("POST", "/experiments", experiment(new_key()))
        assert raised.value.status == 401
    assert anonymous.get("/experiments")["experiments"] is not None  # reads are open


def test_invalid_config_is_422_listing_every_reason(workers: list[WorkerProcess]) -> None:
    bad = experiment(new_key(), coverage=150, colour="red",
                     targeting={"attribute": "country", "op": "like", "value": "US"})
    bad["variants"][0]["weight"] = 70
    with pytest.raises(ApiError) as raised:
        api(workers[0]).request("POST", "/experiments", bad)
    assert raised.value.status == 422
    details = "\n".join(raised.value.details)
    for reason in ("coverage: must be between 0 and 100", "colour: unknown field",
                   "targeting.op: unknown operator 'like'", "weights must sum to 100, not 120"):
        assert reason in details


def test_a_restarted_worker_rebuilds_the_same_snapshot(workers: list[WorkerProcess]) -> None:
    first, second = workers
    key = new_key()
    api(first).request("POST", "/experiments", experiment(key))
    api(first).request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    wait_until_served(second, key, "active")
    before = first.client().request("GET", "/config")
    second.stop()
    second.start()
    assert second.client().get("/config") == first.client().get("/config")
    # The read position: at or past the snapshot's version (pending changes move only it).
    assert second.client().get("/ready")["config_version"] >= before[1]["version"]


def test_config_etag_gives_304(workers: list[WorkerProcess]) -> None:
    import urllib.error
    import urllib.request

    url = f"{workers[0].url}/config"
    with urllib.request.urlopen(url) as response:
        etag = response.headers["ETag"]
    request = urllib.request.Request(url, headers={"If-None-Match": etag})
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request)
    assert raised.value.code == 304
    key = new_key()
    api(workers[0]).request("POST", "/experiments", experiment(key))
    api(workers[0]).request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    with urllib.request.urlopen(request) as response:  # the config changed: a full answer
        assert response.status == 200 and response.headers["ETag"] != etag


def test_review_needs_another_actor(workers: list[WorkerProcess]) -> None:
    key = new_key()
    api(workers[0]).request("POST", "/experiments", experiment(key, requires_approval=True))
    status, proposal = api(workers[0], "alice").request(
        "PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    assert status == 202
    change = proposal["pending"]
    # The second worker reads the log to its end before it decides: the proposal is there.
    assert api(workers[1]).get(f"/experiments/{key}")["experiment"]["status"] == "draft"
    with pytest.raises(ApiError) as refused:
        api(workers[1], "alice").request(
            "POST", f"/experiments/{key}/changes/{change}/approve")
    assert refused.value.status == 403
    _, approved = api(workers[1], "bob").request(
        "POST", f"/experiments/{key}/changes/{change}/approve")
    assert approved["experiment"]["status"] == "active" and approved["version"] == 2
    # Approved on the second worker: the first serves it once it has read the log.
    pending = eventually(lambda: api(workers[0]).get(f"/experiments/{key}/changes")["pending"],
                         lambda found: found == [])
    assert pending == []

    _, second = api(workers[0], "bob").request(
        "PATCH", f"/experiments/{key}", {"coverage": 10}, 2)
    api(workers[0], "alice").request(
        "POST", f"/experiments/{key}/changes/{second['pending']}/reject")
    assert api(workers[0]).get(f"/experiments/{key}")["experiment"]["coverage"] == 100
    history = api(workers[0]).get(f"/experiments/{key}/history")["history"]
    assert [e["action"] for e in history] == ["create", "propose", "approve", "propose", "reject"]
    assert [e["actor"] for e in history] == ["alice", "alice", "bob", "bob", "alice"]


def test_only_drafts_can_be_deleted(workers: list[WorkerProcess]) -> None:
    key = new_key()
    api(workers[0]).request("POST", "/experiments", experiment(key))
    api(workers[0]).request("PATCH", f"/experiments/{key}", {"status": "active"}, 1)
    with pytest.raises(ApiError) as refused:
        api(workers[0]).request("DELETE", f"/experiments/{key}", version=2)
    assert refused.value.status == 409
    draft = new_key()
    api(workers[0]).request("POST", "/experiments", experiment(draft))
    assert api(workers[0]).request("DELETE", f"/experiments/{draft}", version=1)[0] == 204
    # Deleted on the first worker: the second stops serving it once it has read the log.
    def status_on_second() -> int:
        try:
            api(workers[1]).get(f"/experiments/{draft}")
        except ApiError as error:
            return error.status
        return 200

    assert eventually(status_on_second, lambda status: status != 200) == 404


def test_config_as_code_applies_a_file_once(workers: list[WorkerProcess]) -> None:
    from abstream.apply import apply_config
    from experiments import config_document, load_config_text

    layer, key = f"layer_{uuid.uuid4().hex[:6]}", new_key()
    text = f"""
layers: [{{key: {layer}}}]
experiments:
  - key: {key}
    status: active
    layer: {layer}
    layer_slots: [[0, 4999]]
    coverage: 20
    variants: [{{key: control, weight: 50}}, {{key: treatment, weight: 50}}]
"""
    written = yaml.safe_load(text)
    canonical = config_document(load_config_text(text))
    lines: list[str] = []
    client = api(workers[0])
    assert apply_config(client, written, canonical, dry_run=True, say=lines.append) == 2
    assert served(workers[0], key) is None  # a dry run writes nothing
    assert apply_config(client, written, canonical, dry_run=False, say=lines.append) == 2
    assert served(workers[0], key)["status"] == "active"
    assert apply_config(client, written, canonical, dry_run=False, say=lines.append) == 0

    ramped = text.replace("coverage: 20", "coverage: 70")
    lines.clear()
    apply_config(client, yaml.safe_load(ramped),
                 config_document(load_config_text(ramped)), dry_run=False, say=lines.append)
    assert f"experiment {key}:" in lines and "  users moved: 0 %" in lines
    coverage = eventually(lambda: api(workers[1]).get(f"/experiments/{key}")["experiment"],
                          lambda found: found["coverage"] == 70)["coverage"]
    assert coverage == 70
