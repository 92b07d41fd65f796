from __future__ import annotations

from experiments.dedup import SeenIds, Verdict

DAY = 86_400_000


def test_the_same_id_counts_once() -> None:
    seen = SeenIds()
    assert seen.check("e1", 1_000, watermark_ms=1_000) is Verdict.NEW
    assert seen.check("e1", 1_000, watermark_ms=1_000) is Verdict.DUPLICATE
    assert seen.check("e1", 5_000, watermark_ms=1_000) is Verdict.DUPLICATE  # another time
    assert seen.check("e2", 1_000, watermark_ms=1_000) is Verdict.NEW


def test_ids_are_kept_for_the_retention_then_forgotten() -> None:
    seen = SeenIds(retention_ms=7 * DAY)
    for event_id, time in (("old", 0), ("recent", 6 * DAY), ("now", 8 * DAY)):
        seen.check(event_id, time, watermark_ms=time)
    seen.expire(watermark_ms=8 * DAY)
    assert set(seen.ids) == {"recent", "now"}
    assert seen.check("recent", 6 * DAY, watermark_ms=8 * DAY) is Verdict.DUPLICATE


def test_events_older_than_the_retention_are_too_late() -> None:
    seen = SeenIds(retention_ms=7 * DAY)
    assert seen.check("ancient", 2 * DAY, watermark_ms=10 * DAY) is Verdict.TOO_LATE
    assert "ancient" not in seen.ids
    assert seen.check("in time", 3 * DAY + 1, watermark_ms=10 * DAY) is Verdict.NEW


def test_the_bound_on_ids_moves_the_horizon_instead_of_forgetting_silently() -> None:
    seen = SeenIds(max_ids=3)
    for i in range(5):
        seen.check(f"e{i}", 1_000 + i, watermark_ms=1_000 + i)
    seen.expire(watermark_ms=1_004)
    assert set(seen.ids) == {"e2", "e3", "e4"}
    assert seen.floor_ms == 1_002
    # e1 was forgotten: telling it apart from a new event is no longer possible.
    assert seen.check("e1", 1_001, watermark_ms=1_004) is Verdict.TOO_LATE
    assert seen.check("e3", 1_003, watermark_ms=1_004) is Verdict.DUPLICATE
