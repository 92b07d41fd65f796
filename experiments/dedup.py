"""Dropping a user's events seen before, by event id, over a bounded span of event time.

A duplicate carries the same user_id as its original, so the ids are kept per
user, inside the user's stored state: one write per change covers both, and a
message replayed after a crash finds its id and its user's totals in the same
record. `SeenIds` keeps an id for `retention_ms` of event time past the newest
event of the user (their watermark), and at most `max_ids` of them. An event
older than the horizon (the retention, or the oldest id forgotten to honour the
bound) can no longer be told apart from a duplicate: `check` says so, and the
caller dead-letters it rather than risk applying it twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_RETENTION_MS = 7 * 86_400_000
DEFAULT_MAX_IDS = 2_000


class Verdict(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    TOO_LATE = "too-late"  # older than the horizon: cannot be deduplicated safely


@dataclass(slots=True)
class SeenIds:
    ids: dict[str, int] = field(default_factory=dict)  # event id → event time (ms)
    floor_ms: int = 0  # ids older than this may have been forgotten to honour max_ids
    retention_ms: int = DEFAULT_RETENTION_MS
    max_ids: int = DEFAULT_MAX_IDS

    def horizon(self, watermark_ms: int) -> int:
        """The oldest event time still deduplicated exactly."""
        return max(watermark_ms - self.retention_ms, self.floor_ms)

    def check(self, event_id: str, time_ms: int, watermark_ms: int) -> Verdict:
        """Classify an event against the user's `watermark_ms`, remembering it if new."""
        if time_ms < self.horizon(watermark_ms):
            return Verdict.TOO_LATE
        if event_id in self.ids:
            return Verdict.DUPLICATE
        self.ids[event_id] = time_ms
        return Verdict.NEW

    def expire(self, watermark_ms: int) -> None:
        """Forget ids past the retention, then the oldest beyond `max_ids`."""
        horizon = watermark_ms - self.retention_ms
        if any(time < horizon for time in self.ids.values()):
            self.ids = {i: time for i, time in self.ids.items() if time >= horizon}
        if len(self.ids) > self.max_ids:
            by_time = sorted(self.ids.items(), key=lambda item: item[1])
            cut = len(by_time) - self.max_ids
            # Everything up to the newest forgotten time is now beyond exact dedup.
            self.floor_ms = max(self.floor_ms, by_time[cut - 1][1] + 1)
            self.ids = {i: time for i, time in by_time[cut:] if time >= self.floor_ms}
