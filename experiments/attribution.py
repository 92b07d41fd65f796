"""The join of one user's exposures and goal events, as a plain class without I/O.

`UserState` keeps what the join needs for one user and turns it into facts:

- the first exposure per (experiment, phase): the earliest event time wins, and a
  different variant in the same phase flags the user as multiply exposed;
- the goals of the last `grace_ms` of event time, exactly, so a goal that arrives
  before its exposure still counts when the exposure comes;
- per-day totals per event name for the CUPED lookback: the covariate of a metric
  is its total over the whole days before the exposure day, never after;
- the last position applied per source partition, so a replayed message is skipped:
  an offset, and for a batch record the index of the event inside it;
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

from collections.abc import Collection, Mapping
from typing import Any

from experiments import user_record as form
from experiments.attribution_rules import AttributionRules, ExperimentRules
from experiments.dedup import SeenIds, Verdict
from experiments.facts import Fact, metric_values, phase_key
from experiments.user_record import FORMAT, Exposure, exposures_of, new_exposure, split_key

DAY_MS = 86_400_000
_NEVER = 1 << 62
WHOLE = 1 << 62  # the index of a single-event record's event: after any index of a batch
DEFAULT_RULES = AttributionRules()

__all__ = ["DAY_MS", "AttributionRules", "ExperimentRules", "UserState"]


class UserState:
    """One user's join state; `to_dict` / `from_dict` give a JSON-ready form for storage."""

    __slots__ = ("_evict_at", "changed", "days", "exposures", "offsets", "recent", "rules",
                 "seen", "user_id", "version", "watermark")

    def __init__(self, user_id: str, rules: AttributionRules = DEFAULT_RULES) -> None:
        self.user_id = user_id
        self.rules = rules
        self.exposures: dict[str, Exposure] = {}  # "<experiment>/<phase>" → as stored
        self.recent: list[list[Any]] = []  # [time, name, value] within the grace period
        self.days: dict[str, dict[str, list[float]]] = {}  # name → day number → [count, sum]
        # "topic/partition" → the last position applied: an offset (a whole record) or
        # [offset, index] (up to an event of a batch record)
        self.offsets: dict[str, int | list[int]] = {}
        self.version = 0  # counts changes: the sink keeps the highest
        self.watermark = 0  # the newest event time of this user: their grace clock
        self.seen = SeenIds(retention_ms=rules.dedup_retention_ms, max_ids=rules.max_seen_ids)
        self.changed: set[str] = set()  # exposures whose facts changed since `take_changed`
        # No eviction can drop anything below this watermark (None: not known yet).
        self._evict_at: int | None = _NEVER

    # Replays and duplicates

    def applied(self, source: str, offset: int, index: int = WHOLE) -> bool:
        """True if this event (at `index` of the record at `offset`; WHOLE: a single-event
        record) or a later one of its partition was applied already.

        A plain stored offset (stored by a single-event record, or by a version that
        knew no batches) stands for the record's last index.
        """
        position = self.offsets.get(source)
        if position is None:
            return False
        if position.__class__ is int:
            return offset <= position  # type: ignore[operator]
        last_offset, last_index = position  # type: ignore[misc]
        return offset < last_offset or (offset == last_offset and index <= last_index)

    def mark(self, source: str, offset: int, index: int = WHOLE) -> None:
        self.offsets[source] = offset if index == WHOLE else [offset, index]

    def check(self, event_id: str, time_ms: int) -> Verdict:
        """NEW (and remembered), DUPLICATE, or TOO_LATE to tell, by the user's clock."""
        verdict = self.seen.check(event_id, time_ms, self.watermark)
        if verdict is Verdict.NEW:
            self._evictable(time_ms + self.rules.dedup_retention_ms + 1)
        return verdict

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
            current = self.exposures[key] = new_exposure(
                exposure["variant"], time, bool(exposure.get("override")),
                _dimensions(exposure, rules))
            self._attribute(current, rules)
            self.changed.add(key)
        else:
            multiple = current[form.FLAGS] & form.MULTIPLE
            if exposure["variant"] != current[form.VARIANT] and not multiple:
                current[form.FLAGS] |= form.MULTIPLE
                self.changed.add(key)
            if time < current[form.FIRST]:  # an earlier exposure arrived late: it is the first
                current[form.VARIANT], current[form.FIRST] = exposure["variant"], time
                current[form.ATTRIBUTES] = _dimensions(exposure, rules)
                self._attribute(current, rules)
                self.changed.add(key)
        if watermark_ms is not None and time < watermark_ms - self.rules.grace_ms:
            current[form.FLAGS] |= form.LATE
        self.version += 1
        return key

    def flags(self, key: str) -> int:
        """An exposure's flags (`experiments.user_record`: OVERRIDE, MULTIPLE, LATE)."""
        exposure = self.exposures.get(key)
        return 0 if exposure is None else exposure[form.FLAGS]

    def on_goal(self, goal: Mapping[str, Any], experiments: Mapping[str, ExperimentRules]) -> None:
        """Apply a goal: to the history, and to every exposure whose metrics count it."""
        time, name, value = goal["timestamp"], goal["name"], goal.get("value") or 0.0
        self.watermark = max(self.watermark, time)
        self._remember(time, name, value)
        for key, exposure in self.exposures.items():
            rules = experiments.get(split_key(key)[0])
            if rules is None or name not in rules.events:
                continue
            # Both checks, as in _attribute: within the clock-skew allowance before the
            # exposure day a goal counts for the metric and for the covariate alike.
            if self._in_window(rules, exposure[form.FIRST], time):
                _add(exposure[form.VALUES], name, value)
                self.changed.add(key)
            if self._in_lookback(exposure[form.FIRST], time):
                _add(exposure[form.COVARIATES], name, value)
                self.changed.add(key)
        self.version += 1

    def _remember(self, time: int, name: str, value: float) -> None:
        """Keep a goal in the exact history and in its day's totals."""
        self.recent.append([time, name, value])
        if len(self.recent) > self.rules.max_recent_goals:
            self.recent.sort()
            del self.recent[: len(self.recent) - self.rules.max_recent_goals]
        day = time // DAY_MS
        totals = self.days.setdefault(name, {}).setdefault(str(day), [0.0, 0.0])
        totals[0] += 1
        totals[1] += value
        self._evictable(min(time + self.rules.grace_ms + 1,
                            (day + self.rules.lookback_days + 2) * DAY_MS))

    def _attribute(self, exposure: Exposure, rules: ExperimentRules | None) -> None:
        """(Re)compute an exposure's totals from the exact history and the day totals."""
        values, covariates = exposure[form.VALUES], exposure[form.COVARIATES] = {}, {}
        exposure[form.RULES] = rules.fingerprint if rules else None
        if rules is None:
            return
        first = exposure[form.FIRST]
        for time, name, value in self.recent:
            if name in rules.events and self._in_window(rules, first, time):
                _add(values, name, value)
        for name in rules.events:
            for day, (count, total) in self.days.get(name, {}).items():
                if self._in_lookback(first, int(day) * DAY_MS):
                    entry = covariates.setdefault(name, [0.0, 0.0])
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
        if self._evict_at is None:
            self._evict_at = self._next_eviction()
        if watermark_ms < self._evict_at and len(self.seen.ids) <= self.seen.max_ids:
            return  # nothing is old enough yet: the common case costs no scan
        self.seen.expire(watermark_ms)
        horizon = watermark_ms - self.rules.grace_ms
        self.recent = [goal for goal in self.recent if goal[0] >= horizon]
        oldest_day = watermark_ms // DAY_MS - self.rules.lookback_days - 1
        for name in list(self.days):
            kept = {day: t for day, t in self.days[name].items() if int(day) >= oldest_day}
            self.days[name] = kept
            if not kept:
                del self.days[name]
        self._evict_at = self._next_eviction()

    def _next_eviction(self) -> int:
        """The lowest watermark at which `evict` would drop an id, a goal or a day."""
        rules, candidates = self.rules, [_NEVER]
        if self.seen.ids:
            candidates.append(min(self.seen.ids.values()) + rules.dedup_retention_ms + 1)
        if self.recent:
            candidates.append(min(goal[0] for goal in self.recent) + rules.grace_ms + 1)
        days = [int(day) for totals in self.days.values() for day in totals]
        if days:
            candidates.append((min(days) + rules.lookback_days + 2) * DAY_MS)
        return min(candidates)

    def _evictable(self, watermark_ms: int) -> None:
        if self._evict_at is not None and watermark_ms < self._evict_at:
            self._evict_at = watermark_ms

    # Facts

    def take_changed(self, experiments: Mapping[str, ExperimentRules]) -> set[str]:
        """The exposures whose facts changed since the last call, and those whose
        experiment's rules are not the ones their facts were last made with."""
        changed, self.changed = self.changed, set()
        for key, exposure in self.exposures.items():
            rules = experiments.get(split_key(key)[0])
            fingerprint = rules.fingerprint if rules else None
            if exposure[form.RULES] != fingerprint:
                exposure[form.RULES] = fingerprint
                changed.add(key)
        return changed

    def facts(self, experiments: Mapping[str, ExperimentRules],
              keys: Collection[str] | None = None) -> list[Fact]:
        """A fact per exposed (experiment, phase) the configuration knows (of `keys`
        only, if given); not overrides."""
        facts = []
        for key, exposure in self.exposures.items():
            if keys is not None and key not in keys:
                continue
            experiment, phase = split_key(key)
            rules = experiments.get(experiment)
            flags = exposure[form.FLAGS]
            if rules is None or flags & form.OVERRIDE:
                continue
            variant, first, _, attributes, values, covariates, _ = exposure
            facts.append(Fact(
                experiment, phase, variant, self.user_id, first, attributes,
                metric_values(rules.metrics, values), metric_values(rules.metrics, covariates),
                bool(flags & form.MULTIPLE), self.version))
        return facts

    def to_dict(self) -> dict[str, Any]:
        """The stored form (`experiments.user_record`)."""
        return {"format": FORMAT, "user_id": self.user_id,
                "exposures": self.exposures, "recent": self.recent,
                "days": self.days, "offsets": self.offsets, "version": self.version,
                "watermark": self.watermark, "seen": self.seen.ids,
                "seen_floor": self.seen.floor_ms, "evict_at": self._evict_at}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any],
                  rules: AttributionRules = DEFAULT_RULES) -> UserState:
        """A state from its stored form, of this version or an earlier one.

        The state takes `data`'s lists and dicts as its own, without copies (one
        user's record is read for each batch): pass a record freshly read.
        """
        state = cls.__new__(cls)
        state.user_id, state.rules = data["user_id"], rules
        state.exposures, state.recent = exposures_of(data), data["recent"]
        state.days, state.offsets = data["days"], data["offsets"]
        state.version, state.watermark = data["version"], data["watermark"]
        state.seen = SeenIds(data["seen"], data["seen_floor"], rules.dedup_retention_ms,
                             rules.max_seen_ids)
        # Unknown (None) in records of earlier versions: found when an eviction needs it.
        state.changed, state._evict_at = set(), data.get("evict_at")
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
