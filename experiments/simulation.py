"""Synthetic traffic with a known answer: users, their exposures and goals, and the truth.

`simulate(snapshot, spec)` draws users with attributes and an activity level,
assigns them with the real assignment code, and gives each one:

- goals over whole days before their visit (the pre-period CUPED can use: the
  same activity level drives the pre- and the post-period, so they correlate);
- on the visit day, one exposure per experiment they are enrolled in (sometimes
  a repeat exposure later on), and goals in the half hour after it, at
  rates moved by the true effects of their variants.

Delivery is messy on purpose, at the spec's rates: some users' events arrive a
few minutes out of order (within the join's grace period), some events are
delivered twice (same event id), and some users' devices stamp goals with a
skewed clock (within the join's clock-skew allowance).

The ground truth is the definition applied offline to every distinct event:
per experiment, variant and metric, the exposed users and the exact sums
n, Σx, Σx², Σy, Σy², Σxy (x the metric value from the first exposure through
the conversion window, y its total over the whole days before the exposure day)
and Σd for ratio metrics' denominators — the figures the results store must hold.
Nothing here does I/O; `abstream.simulate` sends the events and writes the truth.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from experiments.attribution import DAY_MS
from experiments.exposures import exposure_event
from experiments.ground_truth import GroundTruth, effect_of, metric_events
from experiments.snapshot import ConfigSnapshot, Reason, assign_all

MINUTE_MS = 60_000
DEFAULT_LIFT = 0.08


@dataclass(frozen=True)
class EventModel:
    """How often an average user does something, and what it is worth."""

    post_rate: float  # expected events in the session after the exposure
    pre_rate_per_day: float  # expected events per day before it
    mean_value: float | None = None  # None: the event carries no value


# Rates for the demo's event names; any other event a metric names gets DEFAULT_EVENT.
EVENT_MODELS: dict[str, EventModel] = {
    "purchase": EventModel(0.2, 0.1, mean_value=42.0),
    "search": EventModel(0.4, 0.2),
    "search_click": EventModel(0.2, 0.1),
}
DEFAULT_EVENT = EventModel(0.2, 0.1)


@dataclass(frozen=True)
class SimulationSpec:
    users: int = 100_000
    seed: int = 1
    now_ms: int = 0  # the simulated "now": every event lies before it
    exposure_rate: float = 0.9  # enrolled users who reach the experiment's page
    repeat_exposure_rate: float = 0.05  # exposed users who see it again later
    duplicate_rate: float = 0.01  # events delivered twice
    out_of_order_rate: float = 0.05  # users whose events arrive up to 4 minutes late
    clock_skew_rate: float = 0.02  # users whose device clock is off
    max_clock_skew_s: float = 30.0  # keep below the join's allowance (60 s by default)
    pre_days: int = 2  # days of history before the visit day
    # (experiment, variant, event) → relative lift of the event's rate; "*" as the event
    # applies to every event. Variants not listed have no effect.
    effects: Mapping[tuple[str, str, str], float] = field(default_factory=dict)
    clock_skew_allowance_ms: int = 60_000  # the join's rules, for the truth
    lookback_days: int = 14


@dataclass(frozen=True)
class Delivery:
    """One event as sent: when (simulated delivery order), which topic, the record."""

    order_ms: int
    kind: str  # "exposure" or "goal_event"
    record: dict[str, Any]


@dataclass
class Simulation:
    deliveries: list[Delivery]  # in delivery order, duplicates included
    truth: dict[str, Any]  # JSON-ready: see `GroundTruth.document`

    @property
    def distinct_events(self) -> int:
        return len({d.record["event_id"] for d in self.deliveries})


def default_effects(snapshot: ConfigSnapshot) -> dict[tuple[str, str, str], float]:
    """DEFAULT_LIFT on the events of its own metrics for each experiment's first
    treatment; the other variants have no effect."""
    return {(e.key, e.variants[1].key, event): DEFAULT_LIFT
            for e in snapshot.config.experiments if len(e.variants) > 1
            for event in set(metric_events(e))}


def parse_effect(text: str) -> tuple[tuple[str, str, str], float]:
    """``experiment.variant[.event]=lift`` (lift as a fraction, e.g. 0.05) → entry of effects."""
    target, _, value = text.partition("=")
    parts = target.split(".")
    if len(parts) not in (2, 3) or not all(parts) or not value:
        raise ValueError(f"effect {text!r}: use experiment.variant[.event]=lift, e.g. "
                         "checkout_button_color.green.purchase=0.05")
    try:
        lift = float(value)
    except ValueError:
        raise ValueError(f"effect {text!r}: {value!r} is not a number") from None
    if not math.isfinite(lift) or lift <= -1:
        raise ValueError(f"effect {text!r}: the lift must be a finite number above -1")
    return (parts[0], parts[1], parts[2] if len(parts) == 3 else "*"), lift


def simulate(snapshot: ConfigSnapshot, spec: SimulationSpec) -> Simulation:
    rng = random.Random(spec.seed)
    experiments = [e for e in snapshot.config.experiments if e.metrics]
    events = sorted({name for e in experiments for name in metric_events(e)})
    truth = GroundTruth(experiments, spec)
    history: list[Delivery] = []
    live: list[Delivery] = []
    ids = _EventIds(spec.seed)
    live_start, live_end = spec.now_ms - 8 * 60 * MINUTE_MS, spec.now_ms - 2 * 60 * MINUTE_MS
    for index in range(spec.users):
        user_id = f"user-{index:07d}"
        attributes = _attributes(rng)
        activity = rng.gammavariate(2.0, 0.5)  # mean 1: drives both periods
        visit = _visit_time(rng, live_start, live_end)
        skew = (int(rng.uniform(-1, 1) * spec.max_clock_skew_s * 1000)
                if rng.random() < spec.clock_skew_rate else 0)
        late_by = 4 * MINUTE_MS if rng.random() < spec.out_of_order_rate else 0
        assigned = [a for a in assign_all(snapshot, user_id, attributes).values()
                    if a.reason is Reason.ASSIGNED]  # overrides are not analysed
        exposed = [a for a in assigned if rng.random() < spec.exposure_rate]

        exposures = []
        for offset, assignment in enumerate(exposed):
            times = [visit + offset * 1000]
            if rng.random() < spec.repeat_exposure_rate:
                times.append(visit + int(rng.uniform(1, 30) * MINUTE_MS))
            for time in times:
                exposures.append(_exposure(ids.next(), user_id, assignment, time, attributes))
        goals = []
        visit_day = visit // DAY_MS
        for name in events:
            model = EVENT_MODELS.get(name, DEFAULT_EVENT)
            for _ in range(_poisson(rng, activity * model.pre_rate_per_day * spec.pre_days)):
                day = visit_day - rng.randint(1, spec.pre_days)
                time = day * DAY_MS + int(rng.uniform(1, 23) * 60 * MINUTE_MS)
                goals.append(_goal(ids.next(), user_id, name, time + skew, rng, model))
            lift = math.prod(1 + effect_of(spec.effects, a.experiment, a.variant, name)
                             for a in exposed)
            for _ in range(_poisson(rng, activity * model.post_rate * lift)):
                time = visit + int(rng.uniform(0, 30) * MINUTE_MS)
                goals.append(_goal(ids.next(), user_id, name, time + skew, rng, model))

        truth.add_user(exposures, goals)
        for record in exposures + goals:
            kind = "exposure" if "experiment" in record else "goal_event"
            time = record["timestamp"]
            # History arrives first, in time order; the visit day live, some of it late.
            if time < visit_day * DAY_MS:
                target, order = history, time
            else:
                target, order = live, time + (int(rng.uniform(0, late_by)) if late_by else 0)
            target.append(Delivery(order, kind, record))
            if rng.random() < spec.duplicate_rate:
                target.append(Delivery(order + int(rng.uniform(0, 2 * MINUTE_MS)), kind, record))

    history.sort(key=lambda d: d.order_ms)
    live.sort(key=lambda d: d.order_ms)
    return Simulation(history + live, truth.document())


# Users


def _attributes(rng: random.Random) -> dict[str, str]:
    platform = rng.choices(["web", "ios", "android"], [0.5, 0.3, 0.2])[0]
    attributes = {
        "platform": platform,
        "country": rng.choices(["US", "DE", "GB", "IN", "BR"], [0.4, 0.15, 0.15, 0.2, 0.1])[0],
        "returning": "true" if rng.random() < 0.6 else "false",
    }
    if platform != "web":
        attributes["app_version"] = rng.choice(["4.1.0", "4.2.0", "4.3.1"])
    return attributes


def _visit_time(rng: random.Random, start: int, end: int) -> int:
    """A time in [start, end), never in a day's first 5 minutes: a skewed goal right
    after the exposure must not fall on the day before, which the covariate counts."""
    time = int(rng.uniform(start, end))
    if time % DAY_MS < 5 * MINUTE_MS:
        time += 5 * MINUTE_MS
    return time


class _EventIds:
    def __init__(self, seed: int) -> None:
        self.prefix, self.count = f"sim{seed}-", 0

    def next(self) -> str:
        self.count += 1
        return f"{self.prefix}{self.count}"


def _exposure(event_id: str, user_id: str, assignment: Any, time: int,
              attributes: dict[str, str]) -> dict[str, Any]:
    return exposure_event(event_id=event_id, user_id=user_id, experiment=assignment.experiment,
                          variant=assignment.variant, phase=assignment.phase,
                          config_version=assignment.version, timestamp=time,
                          attributes=attributes, source="simulator")


def _goal(event_id: str, user_id: str, name: str, time: int, rng: random.Random,
          model: EventModel) -> dict[str, Any]:
    value = None
    if model.mean_value is not None:  # a skewed, positive amount in cents
        value = round(rng.lognormvariate(math.log(model.mean_value) - 0.32, 0.8), 2)
    return {"event_id": event_id, "user_id": user_id, "name": name, "value": value,
            "timestamp": time, "received_at": time, "attributes": {}}


def _poisson(rng: random.Random, mean: float) -> int:
    """Knuth's method: exact, and quick for the small means used here."""
    limit, count, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count
