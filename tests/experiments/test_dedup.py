from __future__ import annotations

from experiments.dedup import DedupWindow, Verdict

DAY = 86_400_000


def test_the_same_id_counts_once() -> None:
    window = DedupWindow({})
    assert window.check("e1", 1_000) is Verdict.NEW
    assert window.check("e1", 1_000) is Verdict.DUPLICATE
    assert window.check("e1", 5_000) is Verdict.DUPLICATE  # a retry with another time
    assert window.check("e2", 1_000) is Verdict.NEW
    assert window.duplicates == 2


def test_ids_are_kept_for_the_retention_then_forgotten() -> None:
    window = DedupWindow({}, retention_ms=7 * DAY)
    window.check("old", 0)
    window.check("recent", 6 * DAY)
    window.check("now", 8 * DAY)
    assert window.expire() == 1
    assert set(window.seen) == {"recent", "now"}
    assert window.check("recent", 6 * DAY) is Verdict.DUPLICATE


def test_events_older_than_the_retention_are_too_late() -> None:
    window = DedupWindow({}, retention_ms=7 * DAY)
    window.check("now", 10 * DAY)
    assert window.check("ancient", 2 * DAY) is Verdict.TOO_LATE
    assert window.too_late == 1 and "ancient" not in window.seen


def test_the_watermark_never_goes_back() -> None:
    window = DedupWindow({})
    window.check("a", 5_000)
    window.check("b", 1_000)
    assert window.watermark_ms == 5_000


def test_a_restarted_window_recovers_from_its_store() -> None:
    store: dict[str, list] = {}
    first = DedupWindow(store, retention_ms=7 * DAY)
    first.check("old", 0)
    first.check("new", 9 * DAY)
    second = DedupWindow(store, retention_ms=7 * DAY)
    second.rebuild()
    assert second.watermark_ms == 9 * DAY
    assert second.check("new", 9 * DAY) is Verdict.DUPLICATE
    assert second.expire() == 1 and "old" not in store


def test_the_same_message_read_again_is_not_its_own_duplicate() -> None:
    window = DedupWindow({})
    assert window.check("e1", 1_000, origin="events/0@41") is Verdict.NEW
    assert window.check("e1", 1_000, origin="events/0@41") is Verdict.NEW  # replayed
    assert window.check("e1", 1_000, origin="events/0@57") is Verdict.DUPLICATE  # sent twice
