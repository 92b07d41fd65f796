"""A `Gate` (topology.positions) fed by a Faust agent's batches of events.

Per batch: after a rebalance every position is read again from where the reader
keeps it (another worker may have moved it meanwhile); records of partitions this
worker no longer holds are left to their new owner; what the gate finds already
applied is skipped; and a partition with a gap is sought back to its position,
its records left unapplied until the one expected arrives. A partition whose
reader has never kept a position starts at its first record.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence

import faust
from faust.types import TP

from agents import metrics
from topology.faust_fixes import seek_in_thread
from topology.positions import Gate, Verdict

log = logging.getLogger(__name__)
# Reads what a reader has kept for these partitions: the next offset to apply, or None.
# The events are the batch's (an agent's table reads need one of each partition), or
# none at all when the worker seeks its partitions after an assignment.
LoadPositions = Callable[[Collection[TP], Sequence[faust.EventT]],
                         Awaitable[Mapping[TP, int | None]]]


class KeptPositions:
    """Every reader's positions, for the seeks after an assignment: a partition is read
    from the lowest position of its readers (from its first record where one of them
    has none), and each reader's gate skips what it has already applied."""

    def __init__(self) -> None:
        self.readers: list[tuple[frozenset[str], LoadPositions]] = []

    def add(self, topics: Collection[str], load: LoadPositions) -> None:
        self.readers.append((frozenset(topics), load))

    @property
    def topics(self) -> frozenset[str]:
        return frozenset().union(*(topics for topics, _ in self.readers))

    async def lowest(self, tps: Collection[TP]) -> dict[TP, int | None]:
        lowest: dict[TP, int | None] = {}
        for topics, load in self.readers:
            mine = [tp for tp in tps if tp.topic in topics]
            if not mine:
                continue
            for tp, offset in (await load(mine, ())).items():
                lowest[tp] = offset if tp not in lowest else _lower(lowest[tp], offset)
        return lowest


def _lower(a: int | None, b: int | None) -> int | None:
    """The lower of two positions, None (the first record) being lowest."""
    return None if a is None or b is None else min(a, b)


class GatedReader:
    def __init__(self, app: faust.App, name: str, load: LoadPositions,
                 compacted: Collection[str] = ()) -> None:
        self.app, self.name, self.load = app, name, load
        self.gate = Gate(compacted)
        self._generation: int | None = None
        self._gaps = metrics.POSITION_GAPS.labels(name)
        self._skipped = metrics.RECORDS_READ_AGAIN.labels(name)

    async def admit(self, events: Sequence[faust.EventT]) -> list[faust.EventT]:
        """The events of `events` to apply now, in order."""
        consumer = self.app.consumer
        generation = self.app.consumer_generation_id
        if generation != self._generation:
            self.gate.forget()
            self._generation = generation
        assigned = consumer.assignment()
        held = [e for e in events if e.message.tp in assigned]
        await self._learn({e.message.tp for e in held} - self.gate.next.keys(), held)
        admitted: list[faust.EventT] = []
        gaps: set[TP] = set()
        verdict = self.gate.verdict
        for event in held:
            message = event.message
            found = verdict(message.tp, message.offset)
            if found is Verdict.APPLY:
                admitted.append(event)
            elif found is Verdict.GAP:
                gaps.add(message.tp)
            else:
                self._skipped.inc()
        for tp in gaps:
            await self._seek_back(tp)
        return admitted

    def positions(self, tps: Collection[TP]) -> dict[TP, int]:
        """The next offset to apply of each of `tps`: what the reader keeps after a write."""
        return self.gate.positions(tps)

    async def _learn(self, tps: set[TP], events: Sequence[faust.EventT]) -> None:
        if not tps:
            return
        kept = {tp: offset for tp, offset in (await self.load(tps, events)).items()
                if not self.gate.knows(tp)}
        never = [tp for tp, offset in kept.items() if offset is None]
        if never:
            kept.update(await self.app.consumer.earliest_offsets(*never))
        self.gate.start(kept)  # type: ignore[arg-type]

    async def _seek_back(self, tp: TP) -> None:
        consumer = self.app.consumer
        self._gaps.inc()
        earliest = (await consumer.earliest_offsets(tp))[tp]
        if earliest > self.gate.next[tp]:
            log.error("%s: records %d to %d of %s were deleted (retention) before they "
                      "were applied", self.name, self.gate.next[tp], earliest - 1, tp)
            self.gate.skip_to(tp, earliest)
        log.info("%s: %s was read past offset %d; reading again from there",
                 self.name, tp, self.gate.next[tp])
        await seek_in_thread(self.app, {tp: self.gate.next[tp]})
