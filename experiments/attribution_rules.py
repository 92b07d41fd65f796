"""What attribution needs to know: the join's own rules, and each experiment's."""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from functools import cached_property

from experiments.dedup import DEFAULT_MAX_IDS, DEFAULT_RETENTION_MS
from experiments.model import Experiment, MetricKind


@dataclass(frozen=True)
class AttributionRules:
    # A day: the two topics can be read hours apart in event time (a backlog, a
    # restart), and a goal read long before its exposure must still be there.
    grace_ms: int = 24 * 60 * 60_000
    lookback_days: int = 14
    clock_skew_ms: int = 60_000
    max_recent_goals: int = 2_000  # a hard bound on one user's exact history
    dedup_retention_ms: int = DEFAULT_RETENTION_MS
    max_seen_ids: int = DEFAULT_MAX_IDS


@dataclass(frozen=True)
class ExperimentRules:
    """What attribution needs to know of an experiment."""

    key: str
    window_ms: int
    metrics: tuple[tuple[str, MetricKind, str, MetricKind | None, str | None], ...]
    events: frozenset[str]
    dimensions: tuple[str, ...] = ()

    @classmethod
    def of(cls, experiment: Experiment) -> ExperimentRules:
        metrics, events = [], set()
        for m in experiment.metrics:
            if m.kind is MetricKind.RATIO and m.numerator and m.denominator:
                metrics.append((m.key, m.numerator.kind, m.numerator.event,
                                m.denominator.kind, m.denominator.event))
                events |= {m.numerator.event, m.denominator.event}
            elif m.event:
                metrics.append((m.key, m.kind, m.event, None, None))
                events.add(m.event)
        window = int(experiment.conversion_window_hours * 3_600_000)
        return cls(experiment.key, window, tuple(metrics), frozenset(events),
                   tuple(experiment.dimensions))

    @cached_property
    def fingerprint(self) -> int:
        """Stable across processes (unlike hash()): a fact made under other rules is
        made again, since its metrics, window or dimensions may differ."""
        return zlib.crc32(repr((self.key, self.window_ms, self.metrics, sorted(self.events),
                                self.dimensions)).encode())
