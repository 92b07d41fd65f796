"""Where each reader of a topic stands, kept with what it wrote, not in the consumer group.

A reader (the join, a sink writer) keeps, per source partition, the offset of the
next record it has to apply: the join in its users table, right after the user
records a batch wrote; a sink writer in the results store, right after the rows.
`Gate` holds those positions while the worker runs and sorts each record read:
one already applied is skipped; one past the position means records in between
were never handed over (a seek or a fetch of Faust's that moved the consumer past
them), so the reader applies nothing of that partition until it has sought back
and reads the record it expects. Committed offsets then only say where reading
starts, and getting them wrong costs a re-read, never a record.

Compacted topics legitimately skip offsets (the cleaner removed records that a
newer one of the same key replaces), but a skip there looks just like a consumer
that moved past records. So a gap in a compacted topic is sought back like any
other, and a record past the position is applied only when it is the first one
read after that seek at or before the record that showed the gap: the broker,
asked for the position, answered with a later offset, so the ones between are gone.
Records after the one that showed the gap are still the old read and prove nothing.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Mapping
from typing import NamedTuple


class TopicPartition(NamedTuple):
    topic: str
    partition: int


class Verdict(enum.Enum):
    APPLY = "apply"
    APPLIED = "applied"  # read again: already applied
    GAP = "gap"  # records before it were skipped: seek back to the position


class Gate:
    """The next offset to apply per partition, and what to make of a record read."""

    def __init__(self, compacted: Iterable[str] = ()) -> None:
        self.compacted = frozenset(compacted)
        self.next: dict[TopicPartition, int] = {}
        # Compacted partitions sought back: the offset of the record that showed the gap.
        self.sought: dict[TopicPartition, int] = {}

    def knows(self, tp: TopicPartition) -> bool:
        return tp in self.next

    def start(self, positions: Mapping[TopicPartition, int]) -> None:
        """Take positions as read from where they are kept (the next offset to apply)."""
        self.next.update(positions)

    def forget(self) -> None:
        """Drop every position: after a rebalance another worker may have moved them."""
        self.next.clear()
        self.sought.clear()

    def verdict(self, tp: TopicPartition, offset: int) -> Verdict:
        """What to do with the record at `offset`; APPLY moves the position past it."""
        expected = self.next[tp]
        if offset < expected:
            return Verdict.APPLIED
        if offset > expected:
            if tp.topic not in self.compacted:
                return Verdict.GAP
            shown_at = self.sought.get(tp)
            if shown_at is None or offset > shown_at:
                self.sought[tp] = offset if shown_at is None else shown_at
                return Verdict.GAP
        self.sought.pop(tp, None)
        self.next[tp] = offset + 1
        return Verdict.APPLY

    def skip_to(self, tp: TopicPartition, offset: int) -> None:
        """Move the position forward to `offset`: the records before it are gone (the
        topic's retention deleted them) and can never be applied."""
        if offset > self.next[tp]:
            self.next[tp] = offset

    def positions(self, tps: Iterable[TopicPartition]) -> dict[TopicPartition, int]:
        return {tp: self.next[tp] for tp in tps}
