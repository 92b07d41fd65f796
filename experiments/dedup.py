"""Dropping events seen before, by event id, for a bounded span of event time.

`DedupWindow` works over any mutable mapping from event id to event time (a
RocksDB table in the worker, a dict in tests). An id is remembered for
`retention_ms` of event time past the newest event seen (the watermark); older
ids are forgotten in `expire`, and an event older than the retention can no
longer be told apart from a duplicate: `check` says so, and the caller
dead-letters it rather than risk applying it twice. The expiry order is kept in
memory; `rebuild` recovers it from the mapping after a restart.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from dataclasses import dataclass, field
from enum import StrEnum

DEFAULT_RETENTION_MS = 7 * 86_400_000


class Verdict(StrEnum):
    NEW = "new"
    DUPLICATE = "duplicate"
    TOO_LATE = "too-late"  # older than the retention: cannot be deduplicated safely


@dataclass
class DedupWindow:
    seen: MutableMapping[str, list]  # event id → [event time (ms), origin]
    retention_ms: int = DEFAULT_RETENTION_MS
    watermark_ms: int = 0  # the newest event time seen; never goes back
    duplicates: int = 0
    too_late: int = 0
    _order: list[tuple[int, str]] = field(default_factory=list, repr=False)

    def check(self, event_id: str, time_ms: int, origin: str = "") -> Verdict:
        """Classify an event, and remember it if it is new.

        `origin` names the message (topic, partition, offset): the same message read
        again after a crash is not a duplicate of itself, so it stays NEW.
        """
        if time_ms < self.watermark_ms - self.retention_ms:
            self.too_late += 1
            return Verdict.TOO_LATE
        known = self.seen.get(event_id)
        if known is not None and not (origin and known[1] == origin):
            self.duplicates += 1
            return Verdict.DUPLICATE
        self.seen[event_id] = [time_ms, origin]
        self._order.append((time_ms, event_id))
        self.watermark_ms = max(self.watermark_ms, time_ms)
        return Verdict.NEW

    def rebuild(self) -> None:
        """Recover the expiry order and the watermark from `seen` (after a restart)."""
        self._order = sorted((entry[0], event_id) for event_id, entry in self.seen.items())
        if self._order:
            self.watermark_ms = max(self.watermark_ms, self._order[-1][0])

    def expire(self) -> int:
        """Forget ids older than the retention; returns how many were forgotten."""
        horizon = self.watermark_ms - self.retention_ms
        self._order.sort()
        cut = 0
        while cut < len(self._order) and self._order[cut][0] < horizon:
            self.seen.pop(self._order[cut][1], None)
            cut += 1
        del self._order[:cut]
        return cut
