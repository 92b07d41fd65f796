"""Layers and the holdout change like experiments: dry runs write nothing, review is honoured."""

from __future__ import annotations

from typing import Any

import pytest

from agents.experiment_admin import AdminError, ExperimentAdmin
from tests.agents.config_log import in_process_admin


def experiment(key: str, **changes: Any) -> dict[str, Any]:
    return {"key": key, "variants": [{"key": "control", "weight": 50},
                                     {"key": "treatment", "weight": 50}], **changes}


async def guarded(admin: ExperimentAdmin, key: str, **changes: Any) -> None:
    """An experiment that requires approval for every change."""
    await admin.create(experiment(key, requires_approval=True, **changes), "alice")


def holdout(admin: ExperimentAdmin) -> float | None:
    found = admin.state.snapshot().config.holdout
    return found.percent if found else None


async def test_a_dry_run_holdout_writes_nothing() -> None:
    admin, producer = in_process_admin()
    status, body = await admin.put("holdout", "global", {"percent": 100}, None, "alice",
                                   dry_run=True)
    assert status == 200 and body["dry_run"] is True
    assert body["diff"]["percent"] == [None, 100]
    assert body["users_moved_percent"] == 100
    assert holdout(admin) is None
    assert producer.count("unit.config") == 0 and producer.count("unit.config-audit") == 0


async def test_a_dry_run_layer_writes_nothing() -> None:
    admin, producer = in_process_admin()
    status, body = await admin.put("layer", "checkout", {"key": "checkout"}, None, "alice",
                                   dry_run=True)
    assert status == 200 and body["dry_run"] is True and "key" in body["diff"]
    assert admin.state.current("layer", "checkout") is None
    assert producer.count("unit.config") == 0


async def test_a_holdout_over_a_guarded_experiment_waits_for_review() -> None:
    admin, _ = in_process_admin()
    await guarded(admin, "exp_a")
    status, body = await admin.put("holdout", "global", {"percent": 100}, None, "alice")
    assert status == 202 and body["experiments"] == ["exp_a"]
    assert holdout(admin) is None  # not applied
    change = body["pending"]
    assert [p["id"] for p in admin.pending("exp_a")] == [change]
    with pytest.raises(AdminError) as own:
        await admin.review("exp_a", change, "alice", approve=True)
    assert own.value.status == 403
    approved = await admin.review("exp_a", change, "bob", approve=True)
    assert approved["version"] == 1 and holdout(admin) == 100
    assert admin.pending("exp_a") == []


async def test_a_layer_change_over_a_guarded_member_waits_and_can_be_rejected() -> None:
    admin, _ = in_process_admin()
    await admin.put("layer", "checkout", {"key": "checkout"}, None, "alice")
    await guarded(admin, "exp_b", layer="checkout", layer_slots=[[0, 4999]])
    await admin.create(experiment("exp_c"), "alice")  # not in the layer: not asked
    status, body = await admin.put("layer", "checkout",
                                   {"key": "checkout", "description": "new"}, 1, "alice")
    assert status == 202 and body["experiments"] == ["exp_b"]
    assert admin.pending("exp_c") == []
    await admin.review("exp_b", body["pending"], "alice", approve=False)
    assert admin.state.current("layer", "checkout").record.definition["description"] == ""
    assert admin.pending("exp_b") == []


async def test_an_unguarded_holdout_change_applies_at_once() -> None:
    admin, _ = in_process_admin()
    await admin.create(experiment("exp_d"), "alice")
    status, body = await admin.put("holdout", "global", {"percent": 5}, None, "alice")
    assert status == 200 and body["version"] == 1 and holdout(admin) == 5


async def test_a_stale_approval_of_a_holdout_change_is_refused() -> None:
    admin, _ = in_process_admin()
    await guarded(admin, "exp_e")
    _, first = await admin.put("holdout", "global", {"percent": 10}, None, "alice")
    _, second = await admin.put("holdout", "global", {"percent": 20}, None, "alice")
    await admin.review("exp_e", first["pending"], "bob", approve=True)
    with pytest.raises(AdminError) as stale:
        await admin.review("exp_e", second["pending"], "bob", approve=True)
    assert stale.value.status == 409 and holdout(admin) == 10


async def test_bodies_that_are_not_objects_are_422() -> None:
    admin, _ = in_process_admin()
    await admin.create(experiment("exp_f"), "alice")
    for body in ([1, 2], "text", 3, None):
        for call in (admin.create(body, "alice"),
                     admin.update("exp_f", body, 1, "alice"),
                     admin.put("holdout", "global", body, None, "alice"),
                     admin.put("layer", "l", body, None, "alice")):
            with pytest.raises(AdminError) as refused:
                await call
            assert refused.value.status == 422, body

