from __future__ import annotations

from typing import Any

from agents.config_state import ConfigRecord, ConfigState


def record(key: str, version: int, **changes: Any) -> ConfigRecord:
    definition = {"key": key, "status": "active",
                  "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}],
                  **changes}
    return ConfigRecord("experiment", key, version, "alice", 0, "", definition)


def fold(*records: ConfigRecord | None) -> ConfigState:
    state = ConfigState()
    for offset, item in enumerate(records):
        state.apply(offset, item, f"experiment:{item.key if item else 'x'}")
    return state


def test_versions_must_follow_on() -> None:
    state = fold(record("e", 1), record("e", 3), record("e", 2, coverage=50), record("e", 2))
    assert state.version_of("experiment", "e") == 2
    assert state.current("experiment", "e").record.definition["coverage"] == 50
    assert set(state.rejected) == {1, 3}
    assert "stale write" in str(state.rejected[3][0])


def test_invalid_records_are_rejected_and_the_snapshot_stays_valid() -> None:
    state = fold(record("e", 1), record("e", 2, coverage=500), record("f", 1, colour="red"))
    assert set(state.rejected) == {1, 2}
    assert [e.key for e in state.snapshot().config.experiments] == ["e"]
    assert state.snapshot().version == 1  # after the last record that changed it
    assert state.offset == 3


def test_the_same_log_gives_the_same_snapshot() -> None:
    log = [record("e", 1), record("f", 1, coverage=10), record("e", 2, status="paused")]
    first, second = fold(*log), fold(*log)
    assert first.snapshot().etag == second.snapshot().etag
    assert first.snapshot().version == 3


def test_deletion_keeps_counting_versions() -> None:
    deleted = ConfigRecord("experiment", "e", 2, "alice", 0, "", None)
    state = fold(record("e", 1), deleted)
    assert state.current("experiment", "e") is None
    assert state.version_of("experiment", "e") == 2
    assert state.snapshot().config.experiments == ()


def test_layer_overlaps_across_records_are_rejected() -> None:
    layer = ConfigRecord("layer", "l", 1, "alice", 0, "", {"key": "l"})
    state = ConfigState()
    state.apply(0, layer, "layer:l")
    state.apply(1, record("e", 1, layer="l", layer_slots=[[0, 5999]]), "experiment:e")
    state.apply(2, record("f", 1, layer="l", layer_slots=[[5000, 9999]]), "experiment:f")
    assert 2 in state.rejected and "both own bucket 5000" in str(state.rejected[2][0])


def test_pending_and_rejected_records_keep_the_snapshot_and_its_etag() -> None:
    state = fold(record("e", 1))
    before = state.snapshot()
    proposal = ConfigRecord("change", "e/abc", 1, "alice", 0, "", {"patch": {"coverage": 5}})
    state.apply(1, proposal, "change:e/abc")
    state.apply(2, record("e", 5), "experiment:e")  # stale: rejected
    state.apply(3, record("e", 2, coverage=500), "experiment:e")  # invalid: rejected
    assert set(state.rejected) == {2, 3}
    assert state.snapshot() is before and state.snapshot().etag == before.etag
    state.apply(4, record("e", 2, coverage=50), "experiment:e")
    assert state.snapshot() is not before and state.snapshot().version == 5


def test_a_tombstone_of_a_definition_changes_the_snapshot() -> None:
    state = fold(record("e", 1))
    before = state.snapshot()
    state.apply(1, None, "experiment:e")
    assert state.snapshot() is not before and state.snapshot().config.experiments == ()


def test_the_fold_still_refuses_invalid_records_it_did_not_check() -> None:
    state = ConfigState()
    state.apply(0, record("e", 1, variants=[{"key": "a", "weight": 100}]), "experiment:e")
    assert "at least two variants" in str(state.rejected[0])


def test_confirms_tells_an_applied_version_from_one_that_never_was() -> None:
    state = fold(record("e", 1))
    assert state.confirms("experiment", "e", 1, 0)
    assert not state.confirms("experiment", "e", 1, 99)  # another writer's version 1
    assert not state.confirms("experiment", "e", 2, 0)  # never reached
    state.apply(1, record("e", 2, coverage=10), "experiment:e")
    assert state.confirms("experiment", "e", 1, 99)  # compacted away: a later one applied


def test_snapshots_built_change_by_change_equal_full_rebuilds() -> None:
    """Random changes (coverage, status, layers and slots, targeting, invalid ones): the
    snapshot the fold keeps up to date incrementally equals one built from scratch."""
    import random

    from experiments import ConfigSnapshot
    from experiments.snapshot import assign_all

    rng = random.Random(7)
    state, versions = ConfigState(), {}
    layer = ConfigRecord("layer", "shared", 1, "alice", 0, "", {"key": "shared"})
    state.apply(0, layer, "layer:shared")
    users = [f"u{i}" for i in range(200)]
    for offset in range(1, 301):
        key = f"e{rng.randrange(12)}"
        versions[key] = versions.get(key, 0) + 1
        slot = rng.randrange(4)
        changes = rng.choice([
            {"coverage": rng.choice([0, 10, 50, 100, 500])},  # 500: refused
            {"status": rng.choice(["active", "paused"])},
            {"layer": "shared", "layer_slots": [[slot * 2500, slot * 2500 + 2499]]},
            {"targeting": {"attribute": "country", "op": "eq", "value": "US"}},
        ])
        if not state.apply(offset, record(key, versions[key], **changes), f"experiment:{key}"):
            versions[key] -= 1  # refused: the next write of the key takes this version again
        incremental = state.snapshot()  # built from the previous one, change by change
        if offset % 50:
            continue
        full = ConfigSnapshot.build(state.config(), version=incremental.version)
        assert incremental.etag == full.etag
        for user in users:
            attributes = {"country": rng.choice(["US", "FR"])}
            assert assign_all(incremental, user, attributes) == assign_all(full, user, attributes)
