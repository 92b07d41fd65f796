"""The in-process SDK, in Pinterest's shape: `get_group` looks, `activate_experiment` logs.

    client = ExperimentClient(lambda: current_snapshot, exposure_logger=send)
    user = client.for_user("u123", {"country": "US"})
    user.get_group("checkout_button_color")           # no side effect
    user.activate_experiment("checkout_button_color")  # logs one exposure per phase

Exposures go to a pluggable logger (a callable), once per user × experiment ×
phase, remembered in a bounded LRU so memory stays flat. Nothing here raises.
"""

from __future__ import annotations

import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from experiments.exposures import attribute_text
from experiments.snapshot import Assignment, ConfigSnapshot, Reason, assign, assign_all

DEFAULT_DEDUP_CAPACITY = 100_000


@dataclass(frozen=True)
class ExposureRecord:
    """One user saw one variant; matches the Exposure schema's fields."""

    event_id: str
    user_id: str
    experiment: str
    variant: str
    phase: int
    config_version: int
    timestamp: int  # ms since the epoch, event time
    attributes: dict[str, str] = field(default_factory=dict)
    override: bool = False


ExposureLogger = Callable[[ExposureRecord], None]


@dataclass
class ClientStats:
    exposures_logged: int = 0
    exposures_deduplicated: int = 0
    logger_errors: int = 0


class ExperimentClient:
    """Holds where snapshots come from and where exposures go; per-user views do the rest."""

    def __init__(
        self,
        snapshot: ConfigSnapshot | Callable[[], ConfigSnapshot],
        exposure_logger: ExposureLogger | None = None,
        *,
        clock: Callable[[], float] = time.time,
        dedup_capacity: int = DEFAULT_DEDUP_CAPACITY,
    ) -> None:
        self._snapshot = snapshot if callable(snapshot) else (lambda: snapshot)
        self._logger = exposure_logger
        self._clock = clock
        self._capacity = dedup_capacity
        self._seen: OrderedDict[tuple[str, str, int], None] = OrderedDict()
        self.stats = ClientStats()

    def for_user(self, user_id: Any, attributes: Mapping[str, Any] | None = None) -> UserContext:
        return UserContext(self, user_id, attributes)

    def snapshot(self) -> ConfigSnapshot:
        return self._snapshot()

    def new_exposure(
        self, user_id: str, assignment: Assignment, attributes: Any
    ) -> ExposureRecord | None:
        """The exposure to log for an enrolled assignment, unless this user × experiment ×
        phase already had one (remembered in a bounded LRU)."""
        if not assignment.enrolled:
            return None
        key = (user_id, assignment.experiment, assignment.phase)
        if key in self._seen:
            self._seen.move_to_end(key)
            self.stats.exposures_deduplicated += 1
            return None
        self._seen[key] = None
        if len(self._seen) > self._capacity:
            self._seen.popitem(last=False)
        return ExposureRecord(
            event_id=str(uuid.uuid4()), user_id=user_id, experiment=assignment.experiment,
            variant=assignment.variant, phase=assignment.phase,
            config_version=assignment.version, timestamp=int(self._clock() * 1000),
            attributes=_string_attributes(attributes),
            override=assignment.reason is Reason.OVERRIDE,
        )

    def forget(self, record: ExposureRecord) -> None:
        """Let a later activation log this exposure again (its logging failed)."""
        self._seen.pop((record.user_id, record.experiment, record.phase), None)

    def log_exposure(self, user_id: str, assignment: Assignment, attributes: Any) -> bool:
        """Hand the exposure to the logger, once per user × experiment × phase."""
        if self._logger is None:
            return False
        record = self.new_exposure(user_id, assignment, attributes)
        if record is None:
            return False
        try:
            self._logger(record)
        except Exception:  # a failing logger must not break the page being served
            self.stats.logger_errors += 1
            self.forget(record)
            return False
        self.stats.exposures_logged += 1
        return True


class UserContext:
    """One user's view: lookups are pure; activation also logs the exposure."""

    def __init__(self, client: ExperimentClient, user_id: Any, attributes: Any) -> None:
        self._client = client
        self.user_id = user_id
        self.attributes = attributes

    def assignment(self, experiment: str) -> Assignment | None:
        return assign(self._client.snapshot(), experiment, self.user_id, self.attributes)

    def get_group(self, experiment: str) -> str | None:
        """The variant to show (control when not enrolled); None for an unknown experiment."""
        found = self.assignment(experiment)
        return found.variant if found else None

    def activate_experiment(self, experiment: str) -> str | None:
        """Like `get_group`, and logs an exposure when the user is enrolled."""
        found = self.assignment(experiment)
        if found is None:
            return None
        if found.enrolled:
            self._client.log_exposure(str(self.user_id), found, self.attributes)
        return found.variant

    def assign_all(self) -> dict[str, Assignment]:
        return assign_all(self._client.snapshot(), self.user_id, self.attributes)


def _string_attributes(attributes: Any) -> dict[str, str]:
    """As the intake stores them: one slice per value."""
    if not isinstance(attributes, Mapping):
        return {}
    return {str(k): attribute_text(v) for k, v in attributes.items() if v is not None}
