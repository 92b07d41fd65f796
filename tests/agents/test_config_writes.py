"""The write path: audit first, records that fit, one validation, reasons that encode."""

from __future__ import annotations

from typing import Any

import pytest

import agents.config_state
import experiments.snapshot
from agents.experiment_admin import AdminError
from tests.agents.config_log import in_process_admin

CONFIG, AUDIT = "unit.config", "unit.config-audit"


def experiment(key: str, **changes: Any) -> dict[str, Any]:
    return {"key": key, "variants": [{"key": "control", "weight": 50},
                                     {"key": "treatment", "weight": 50}], **changes}


async def test_a_change_whose_audit_record_is_too_large_does_not_apply() -> None:
    # The experiment fits one record, but the audit holds it twice (after and diff).
    admin, producer = in_process_admin(max_record_bytes=15_000)
    with pytest.raises(AdminError) as refused:
        await admin.create(experiment("big", description="x" * 9_000), "alice")
    assert refused.value.status == 413
    assert "audit record" in " ".join(refused.value.details)
    assert admin.state.current("experiment", "big") is None
    assert producer.count(CONFIG) == 0 and producer.count(AUDIT) == 0


async def test_the_record_bound_is_configurable() -> None:
    admin, producer = in_process_admin(max_record_bytes=2_000)
    with pytest.raises(AdminError) as refused:
        await admin.create(experiment("wordy", description="y" * 2_000), "alice")
    assert refused.value.status == 413
    assert "at most 2000 bytes" in " ".join(refused.value.details)
    assert producer.count(CONFIG) == 0


async def test_the_audit_record_is_written_before_the_config_record() -> None:
    admin, producer = in_process_admin()
    producer.failing.add(CONFIG)
    with pytest.raises(AdminError) as unavailable:
        await admin.create(experiment("half"), "alice", reason="first try")
    assert unavailable.value.status == 503
    assert admin.state.current("experiment", "half") is None
    entries = admin.history("half")
    assert [(e["action"], e["applied"]) for e in entries] == [("create", False),
                                                              ("failed", False)]
    assert "the broker is unreachable" in entries[1]["reason"]
    producer.failing.clear()
    await admin.create(experiment("half"), "alice", reason="second try")
    applied = [(e["reason"], e["applied"]) for e in admin.history("half")
               if e["action"] == "create"]
    assert applied == [("first try", False), ("second try", True)]


async def test_a_failed_config_write_is_marked_in_the_audit_log() -> None:
    admin, producer = in_process_admin()
    await admin.create(experiment("marked"), "alice")
    producer.failing.add(CONFIG)
    with pytest.raises(AdminError):
        await admin.update("marked", {"description": "lost"}, 1, "alice")
    actions = [e["action"] for e in admin.history("marked")]
    assert actions == ["create", "update", "failed"]
    assert admin.history("marked")[1]["applied"] is False


async def test_a_stale_write_leaves_no_audit_record() -> None:
    admin, producer = in_process_admin()
    await admin.create(experiment("stale"), "alice")
    await admin.update("stale", {"description": "first"}, 1, "alice")
    audited = producer.count(AUDIT)
    with pytest.raises(AdminError) as conflict:
        await admin.update("stale", {"description": "late"}, 1, "bob")
    assert conflict.value.status == 409 and producer.count(AUDIT) == audited


async def test_a_patch_is_validated_once(monkeypatch: pytest.MonkeyPatch) -> None:
    admin, _ = in_process_admin()
    await admin.create(experiment("counted"), "alice")
    admin.state.snapshot()
    calls: list[str] = []
    # The fold checks the change (its experiment and the relations it takes part in);
    # the snapshot it then builds validates nothing again.
    for module, name in ((agents.config_state, "validate_relations"),
                         (experiments.snapshot, "validate_config")):
        real = getattr(module, name)
        monkeypatch.setattr(module, name,
                            lambda config, real=real, name=module.__name__: (
                                calls.append(name), real(config))[1])
    await admin.update("counted", {"status": "active"}, 1, "alice")
    assert admin.state.snapshot().config.experiments[0].status.value == "active"
    assert calls == ["agents.config_state"]


@pytest.mark.parametrize("reason", ["r" * 1_001, "bad \ud800 surrogate"])
async def test_reasons_that_cannot_be_recorded_are_422(reason: str) -> None:
    admin, producer = in_process_admin()
    with pytest.raises(AdminError) as refused:
        await admin.create(experiment("why"), "alice", reason=reason)
    assert refused.value.status == 422 and "reason" in str(refused.value.details)
    assert producer.count(CONFIG) == 0


async def test_a_long_reason_within_the_bound_is_kept() -> None:
    admin, _ = in_process_admin()
    await admin.create(experiment("because"), "alice", reason="z" * 1_000)
    assert admin.history("because")[0]["reason"] == "z" * 1_000
