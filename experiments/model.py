"""The experiment configuration as frozen data: experiments, layers, the global holdout."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

Span = tuple[int, int]  # an inclusive bucket range


class Status(StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    PAUSED = "paused"
    CONCLUDED = "concluded"


class MetricKind(StrEnum):
    CONVERSION = "conversion"  # 1 if the user did the event at least once, else 0
    COUNT = "count"  # number of events
    SUM = "sum"  # sum of the events' values
    RATIO = "ratio"  # numerator total / denominator total, per variant


@dataclass(frozen=True)
class Variant:
    key: str
    weight: float
    config: Mapping[str, Any] = field(default_factory=dict)  # JSON payload for the service


@dataclass(frozen=True)
class RatioPart:
    event: str
    kind: MetricKind  # COUNT or SUM


@dataclass(frozen=True)
class Metric:
    key: str
    kind: MetricKind
    event: str | None = None  # for conversion, count and sum
    numerator: RatioPart | None = None  # for ratio
    denominator: RatioPart | None = None


@dataclass(frozen=True)
class Phase:
    """A period with one allocation; a change that moves users starts the next.

    `weights` are the phase's (fixed: changing them moves users) and `coverage` its
    latest (a ramp that enrols more users without moving anyone stays in the phase);
    documents written before phases recorded them have None.
    """

    number: int
    started_at: datetime | None = None
    weights: Mapping[str, float] | None = None
    coverage: float | None = None


class BreachAction(StrEnum):
    PAUSE = "pause"  # pause at once: every worker serves control
    ALERT = "alert"  # alert and stop the ramp, keep serving


@dataclass(frozen=True)
class RampStep:
    """Coverage to hold until the step has lasted `min_hours` and the phase has
    `min_exposed` exposed users; then the scheduler takes the next step."""

    coverage: float
    min_hours: float = 0.0
    min_exposed: int = 0


@dataclass(frozen=True)
class RampState:
    """Where a schedule is, kept in the experiment's document (so in the config log)."""

    step: int = 0  # index into the ramp's steps
    step_started_at: datetime | None = None  # None until the experiment is active
    suspended: str | None = None  # why the scheduler waits for `resume`, or None


@dataclass(frozen=True)
class Guardrail:
    """A metric that must not get worse than `margin` (0.02: 2 % when relative)."""

    metric: str
    margin: float
    relative: bool = True
    higher_is_better: bool = True


@dataclass(frozen=True)
class Experiment:
    key: str
    variants: tuple[Variant, ...]
    status: Status = Status.DRAFT
    layer: str | None = None  # None: a layer of its own, keyed by the experiment key
    layer_slots: tuple[Span, ...] = ((0, 9999),)
    coverage: float = 100.0  # percent of the experiment's buckets enrolled
    ranges: Mapping[str, tuple[Span, ...]] = field(default_factory=dict)  # variant → buckets
    targeting: Mapping[str, Any] | None = None
    overrides: Mapping[str, str] = field(default_factory=dict)  # user id → variant key
    metrics: tuple[Metric, ...] = ()
    # Exposure attributes kept on each user's fact (as at first exposure), to slice by.
    dimensions: tuple[str, ...] = ()
    conversion_window_hours: float = 168.0
    start: datetime | None = None
    end: datetime | None = None
    salt: str | None = None
    shipped_variant: str | None = None  # when concluded; None means rolled back
    phases: tuple[Phase, ...] = (Phase(1),)
    version: int = 1
    description: str = ""
    requires_approval: bool = False  # changes wait for another actor's approval
    ramp: tuple[RampStep, ...] = ()  # a schedule of coverage steps, carried out by the leader
    ramp_state: RampState | None = None  # computed; set while there is a ramp
    guardrails: tuple[Guardrail, ...] = ()
    on_breach: BreachAction | None = None  # None: the platform's default (see agents.watch)

    @property
    def control(self) -> str:
        """The first variant is the control: what everyone not enrolled sees."""
        return self.variants[0].key

    @property
    def layer_key(self) -> str:
        return self.layer or self.key

    @property
    def variant_salt(self) -> str:
        return self.salt or self.key

    @property
    def phase(self) -> int:
        return self.phases[-1].number

    @property
    def weights(self) -> dict[str, float]:
        return {variant.key: variant.weight for variant in self.variants}


@dataclass(frozen=True)
class Layer:
    """Experiments in one layer own disjoint slot ranges: a user is in at most one of them."""

    key: str
    description: str = ""


@dataclass(frozen=True)
class Holdout:
    """Users held out of every experiment, to measure the experiments' combined effect."""

    percent: float
    salt: str = "global"


@dataclass(frozen=True)
class Config:
    experiments: tuple[Experiment, ...] = ()
    layers: tuple[Layer, ...] = ()
    holdout: Holdout | None = None
