"""The join of one user's exposures and goal events, as a plain class without I/O.

`UserState` keeps what the join needs for one user and turns it into facts:

- the first exposure per (experiment, phase): the earliest event time wins, and a
  different variant in the same phase flags the user as multiply exposed;
- the goals of the last `grace_ms` of event time, exactly, so a goal that arrives
  before its exposure still counts when the exposure comes;
- per-day totals per event name for the CUPED lookback: the covariate of a metric
  is its total over the whole days before the exposure day, never after;
- the last offset applied per source partition, so a replayed message is skipped;
- the ids of the user's recent events (`experiments.dedup.SeenIds`), so a duplicate
  is never applied twice.

A goal counts for an experiment if its name is one of the experiment's metric
events and its time lies in [first exposure − skew, first exposure + window].
Overrides are kept (their exposures enrol) but produce no facts for analysis.
Everything is event time. The grace period runs on the user's own clock: the
newest event time seen for them (`watermark`), so a backfill of old data or a
slow partition does not cut other users' grace short.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from experiments.dedup import DEFAULT_MAX_IDS, DEFAULT_RETENTION_MS, SeenIds, Verdict
from experiments.facts import Fact, phase_key, ratio_keys
from experiments.model import Experiment, MetricKind

DAY_MS = 86_400_000


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


class UserState:
    """One user's join state; `to_dict` / `from_dict` give a JSON-ready form for storage."""

    def __init__(self, user_id: str, rules: AttributionRules = AttributionRules()) -> None:
        self.user_id = user_id
        self.rules = rules
        self.exposures: dict[str, dict[str, Any]] = {}  # "<experiment>/<phase>" → exposure
        self.recent: list[list[Any]] = []  # [time, name, value] within the grace period
        self.days: dict[str, dict[str, list[float]]] = {}  # name → day number → [count, sum]
        self.offsets: dict[str, int] = {}  # "topic/partition" → last offset applied
        self.version = 0  # counts changes: the sink keeps the highest
        self.watermark = 0  # the newest event time of this user: their grace clock
        self.seen = SeenIds(retention_ms=rules.dedup_retention_ms, max_ids=rules.max_seen_ids)

    # Replays and duplicates

    def applied(self, source: str, offset: int) -> bool:
        """True if this message (or a later one of its partition) was applied already."""
        return offset <= self.offsets.get(source, -1)

    def mark(self, source: str, offset: int) -> None:
        self.offsets[source] = offset

    def check(self, event_id: str, time_ms: int) -> Verdict:
        """NEW (and remembered), DUPLICATE, or TOO_LATE to tell, by the user's clock."""
        return self.seen.check(event_id, time_ms, self.watermark)

    # Events

    def on_exposure(
        self, exposure: Mapping[str, Any], rules: ExperimentRules | None,
        watermark_ms: int | None = None,
    ) -> str:
        """Apply an exposure; returns the key ("<experiment>/<phase>") it touched.

        An exposure older than the grace period (by `watermark_ms`) still enrols
        the user, but goals evicted from the exact history can no longer be
        attributed to it: it is flagged `late`.
        """
        key = phase_key(exposure["experiment"], exposure["phase"])
        time = exposure["timestamp"]
        self.watermark = max(self.watermark, time)
        current = self.exposures.get(key)
        if current is None:
            current = self.exposures[key] = {
                "experiment": exposure["experiment"], "phase": exposure["phase"],
                "variant": exposure["variant"], "first": time,
                "override": bool(exposure.get("override")), "multiple": False,
                "attributes": _dimensions(exposure, rules), "late": False,
            }
            self._attribute(current, rules)
        else:
            if exposure["variant"] != current["variant"]:
                current["multiple"] = True
            if time < current["first"]:  # an earlier exposure arrived late: it is the first
                current.update(first=time, variant=exposure["variant"],
                               attributes=_dimensions(exposure, rules))
                self._attribute(current, rules)
        if watermark_ms is not None and time < watermark_ms - self.rules.grace_ms:
            current["late"] = True
        self.version += 1
        return key

    def on_goal(self, goal: Mapping[str, Any], experiments: Mapping[str, ExperimentRules]) -> None:
        """Apply a goal: to the history, and to every exposure whose metrics count it."""
        time, name, value = goal["timestamp"], goal["name"], goal.get("value") or 0.0
        self.watermark = max(self.watermark, time)
        self.recent.append([time, name, value])
        if len(self.recent) > self.rules.max_recent_goals:
            self.recent.sort()
            del self.recent[: len(self.recent) - self.rules.max_recent_goals]
        totals = self.days.setdefault(name, {}).setdefault(str(time // DAY_MS), [0.0, 0.0])
        totals[0] += 1
        totals[1] += value
        for exposure in self.exposures.values():
            rules = experiments.get(exposure["experiment"])
            if rules is None or name not in rules.events:
                continue
            # Both checks, as in _attribute: within the clock-skew allowance before the
            # exposure day a goal counts for the metric and for the covariate alike.
            if self._in_window(rules, exposure["first"], time):
                _add(exposure["values"], name, value)
            if self._in_lookback(exposure["first"], time):
                _add(exposure["covariates"], name, value)
        self.version += 1

    def _attribute(self, exposure: dict[str, Any], rules: ExperimentRules | None) -> None:
        """(Re)compute an exposure's totals from the exact history and the day totals."""
        exposure["values"], exposure["covariates"] = {}, {}
        if rules is None:
            return
        first = exposure["first"]
        for time, name, value in self.recent:
            if name in rules.events and self._in_window(rules, first, time):
                _add(exposure["values"], name, value)
        for name in rules.events:
            for day, (count, total) in self.days.get(name, {}).items():
                if self._in_lookback(first, int(day) * DAY_MS):
                    entry = exposure["covariates"].setdefault(name, [0.0, 0.0])
                    entry[0] += count
                    entry[1] += total

    def _in_window(self, rules: ExperimentRules, first: int, time: int) -> bool:
        return first - self.rules.clock_skew_ms <= time <= first + rules.window_ms

    def _in_lookback(self, first: int, time: int) -> bool:
        """On one of the whole days before the exposure day, within the lookback."""
        exposure_day, day = first // DAY_MS, time // DAY_MS
        return exposure_day - self.rules.lookback_days <= day < exposure_day

    def evict(self, watermark_ms: int) -> None:
        """Forget exact goals older than the grace period, days older than the lookback
        and event ids older than the dedup retention.

        Attributed totals stay: only what a late exposure could still need goes.
        """
        self.seen.expire(watermark_ms)
        horizon = watermark_ms - self.rules.grace_ms
        self.recent = [goal for goal in self.recent if goal[0] >= horizon]
        oldest_day = watermark_ms // DAY_MS - self.rules.lookback_days - 1
        for name in list(self.days):
            kept = {day: t for day, t in self.days[name].items() if int(day) >= oldest_day}
            self.days[name] = kept
            if not kept:
                del self.days[name]

    # Facts

    def facts(self, experiments: Mapping[str, ExperimentRules]) -> list[Fact]:
        """A fact per exposed (experiment, phase) the configuration knows; not overrides."""
        facts = []
        for exposure in self.exposures.values():
            rules = experiments.get(exposure["experiment"])
            if rules is None or exposure["override"]:
                continue
            facts.append(Fact(
                experiment=rules.key, phase=exposure["phase"], variant=exposure["variant"],
                user_id=self.user_id, first_exposure_ms=exposure["first"],
                attributes=exposure["attributes"],
                values=_metric_values(rules, exposure["values"]),
                covariates=_metric_values(rules, exposure["covariates"]),
                multiple_exposures=exposure["multiple"], version=self.version,
            ))
        return facts

    def to_dict(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "exposures": self.exposures, "recent": self.recent,
                "days": self.days, "offsets": self.offsets, "version": self.version,
                "watermark": self.watermark, "seen": self.seen.ids,
                "seen_floor": self.seen.floor_ms}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any],
                  rules: AttributionRules = AttributionRules()) -> UserState:
        state = cls(data["user_id"], rules)
        state.exposures, state.recent = dict(data["exposures"]), list(data["recent"])
        state.days, state.offsets = dict(data["days"]), dict(data["offsets"])
        state.version, state.watermark = data["version"], data["watermark"]
        state.seen.ids, state.seen.floor_ms = dict(data["seen"]), data["seen_floor"]
        return state


def _dimensions(exposure: Mapping[str, Any], rules: ExperimentRules | None) -> dict[str, str]:
    """The experiment's configured dimensions among the exposure's attributes."""
    attributes = exposure.get("attributes") or {}
    return {name: attributes[name] for name in (rules.dimensions if rules else ())
            if name in attributes}


def _add(totals: dict[str, list[float]], name: str, value: float) -> None:
    entry = totals.setdefault(name, [0.0, 0.0])
    entry[0] += 1
    entry[1] += value


def _metric_values(rules: ExperimentRules, totals: Mapping[str, list[float]]) -> dict:
    values: dict[str, float] = {}
    for key, kind, event, den_kind, den_event in rules.metrics:
        if den_event is None:
            values[key] = _value(kind, totals.get(event))
        else:
            num, den = ratio_keys(key)
            values[num] = _value(kind, totals.get(event))
            values[den] = _value(den_kind, totals.get(den_event))
    return values


def _value(kind: MetricKind | None, totals: list[float] | None) -> float:
    count, total = totals or (0.0, 0.0)
    if kind is MetricKind.CONVERSION:
        return 1.0 if count else 0.0
    return float(count if kind is MetricKind.COUNT else total)
