"""Changes to experiment documents as pure functions: create, patch, diff.

A patch is a partial experiment document. The lifecycle is

    draft → active ⇄ paused → concluded   (active → concluded directly too)

and a concluded experiment is final: it shows its shipped variant, or its
control when rolled back ("kill"). Coverage, variants (weights, added or dropped
arms), targeting, overrides and descriptions can change while it runs; a change
of coverage or variants goes through the allocator, which moves as few users as
possible and opens a new phase when enrolled users change variant. What defines
the measurement itself (metrics, layer, slots, salt, window) can only change
while the experiment is a draft. Ranges, phases and the version are computed.
"""

from __future__ import annotations

from collections.abc import Mapping
from copy import deepcopy
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from experiments.allocation import Allocation, AllocationChange, allocate
from experiments.errors import ConfigError, Problem
from experiments.model import Status
from experiments.ramps import follow_ramp

TRANSITIONS: dict[Status, frozenset[Status]] = {
    Status.DRAFT: frozenset({Status.ACTIVE}),
    Status.ACTIVE: frozenset({Status.PAUSED, Status.CONCLUDED}),
    Status.PAUSED: frozenset({Status.ACTIVE, Status.CONCLUDED}),
    Status.CONCLUDED: frozenset(),
}
LIVE_FIELDS = frozenset({
    "status", "shipped_variant", "coverage", "variants", "targeting", "overrides",
    "description", "requires_approval", "end", "ramp", "guardrails", "on_breach",
})
DRAFT_FIELDS = frozenset({"metrics", "layer", "layer_slots", "salt", "conversion_window_hours",
                          "start"})
COMPUTED_FIELDS = frozenset({"key", "ranges", "phases", "version", "ramp_state"})


@dataclass(frozen=True)
class ChangeResult:
    document: dict[str, Any]  # the experiment after the change, version bumped
    diff: dict[str, list[Any]]  # dotted path → [before, after]
    allocation: AllocationChange | None  # when coverage or variants changed

    @property
    def buckets_moved(self) -> int:
        return self.allocation.buckets_moved if self.allocation else 0

    def summary(self) -> dict[str, Any]:
        """What an operator needs to see: how many users move, and whether a phase starts."""
        change = self.allocation
        return {
            "users_moved_percent": self.buckets_moved / 100,
            "new_phase": bool(change and change.new_phase),
            "moves": {key: vars(m) for key, m in change.moves.items()} if change else {},
        }


def new_experiment(document: Mapping[str, Any], now: datetime | None = None) -> dict[str, Any]:
    """A create request as a version-1 draft; computed fields may not be given."""
    owner = f"experiment {document.get('key')!r}"
    problems = [Problem(owner, name, "is computed; leave it out")
                for name in sorted((COMPUTED_FIELDS - {"key"}) & set(document))]
    if document.get("status", "draft") != "draft":
        problems.append(Problem(owner, "status", "a new experiment is a draft; activate it after"))
    if problems:
        raise ConfigError(problems)
    draft = {**deepcopy(dict(document)), "status": "draft", "version": 1}
    follow_ramp({"status": "draft"}, draft, draft, "", now or datetime.now(UTC))
    return draft


def apply_patch(
    current: Mapping[str, Any], patch: Mapping[str, Any], now: datetime, actor: str = ""
) -> ChangeResult:
    """The experiment after `patch` by `actor`, or `ConfigError` naming every refused field.

    The actor matters to a ramp schedule only (`experiments.ramps`)."""
    status = Status(current["status"])
    refuse = _patch_problems(current, patch, status)
    if refuse:
        raise ConfigError(refuse)
    after = {**deepcopy(dict(current)), **deepcopy(dict(patch)), "version": current["version"] + 1}
    target = Status(after["status"])
    follow_ramp(current, after, patch, actor, now)
    allocation = None
    if {"coverage", "variants"} & set(patch) or not same(after.get("coverage"),
                                                          current.get("coverage")):
        allocation = _reallocate(current, after, status, now)
    if status is Status.DRAFT and target is Status.ACTIVE:
        after["phases"] = [_phase(1, now, after)]
    elif status is not Status.DRAFT and allocation is not None and not allocation.new_phase:
        after["phases"] = [*after.get("phases", [])[:-1],
                           {**after["phases"][-1], "coverage": after.get("coverage")}]
    return ChangeResult(after, diff(current, after), allocation)


def _phase(number: int, now: datetime, experiment: Mapping[str, Any]) -> dict[str, Any]:
    """A phase as it opens, with its allocation: weights and coverage."""
    return {"number": number, "started_at": now.isoformat(),
            "weights": _weights(experiment.get("variants")) or {},
            "coverage": experiment.get("coverage", 100)}


def _patch_problems(
    current: Mapping[str, Any], patch: Mapping[str, Any], status: Status
) -> list[Problem]:
    owner = f"experiment {current['key']!r}"
    problems = []
    for name in sorted(patch):
        if name in COMPUTED_FIELDS:
            problems.append(Problem(owner, name, "is computed and cannot be changed"))
        elif name in DRAFT_FIELDS and status is not Status.DRAFT:
            problems.append(Problem(owner, name, "can only change while the experiment is a draft"))
        elif name not in LIVE_FIELDS | DRAFT_FIELDS:
            problems.append(Problem(owner, name, "unknown field"))
        elif status is Status.CONCLUDED:
            problems.append(Problem(owner, name, "a concluded experiment cannot change"))
    if "status" in patch and not problems:
        try:
            target = Status(patch["status"])
        except ValueError:
            return [Problem(owner, "status", f"{patch['status']!r} is not a status")]
        if target is not status and target not in TRANSITIONS[status]:
            allowed = ", ".join(sorted(s.value for s in TRANSITIONS[status])) or "nothing"
            problems.append(Problem(owner, "status",
                                    f"cannot go from {status.value} to {target.value}; "
                                    f"allowed: {allowed}"))
    return problems


def _reallocate(
    before: Mapping[str, Any], after: dict[str, Any], status: Status, now: datetime
) -> AllocationChange | None:
    weights = _weights(after.get("variants"))
    coverage = after.get("coverage", 100)
    if weights is None or not isinstance(coverage, int | float) or not 0 <= coverage <= 100:
        return None  # validation of the result reports why
    previous = None
    if status is not Status.DRAFT:  # a draft has no users yet: allocate afresh
        previous = Allocation(_weights(before.get("variants")) or {},
                              before.get("coverage", 100), before.get("ranges") or {})
    change = allocate(weights, float(coverage), previous)
    after["ranges"] = change.allocation.ranges
    if change.new_phase:
        phases = list(before.get("phases") or [{"number": 1, "started_at": None}])
        phases.append(_phase(phases[-1]["number"] + 1, now, after))
        after["phases"] = phases
    return change


def _weights(variants: Any) -> dict[str, float] | None:
    try:
        weights = {v["key"]: float(v["weight"]) for v in variants}
    except (TypeError, KeyError, ValueError, OverflowError):
        return None
    if len(weights) != len(variants) or any(w <= 0 for w in weights.values()):
        return None
    return weights


def diff(before: Any, after: Any, path: str = "") -> dict[str, list[Any]]:
    """Dotted paths whose values differ, each with [before, after]."""
    if isinstance(before, Mapping) and isinstance(after, Mapping):
        changes: dict[str, list[Any]] = {}
        for key in sorted(set(before) | set(after), key=str):
            child = f"{path}.{key}" if path else str(key)
            changes.update(diff(before.get(key), after.get(key), child))
        return changes
    return {} if before == after else {path: [before, after]}


def plan_patch(current: Mapping[str, Any], desired: Mapping[str, Any]) -> dict[str, Any]:
    """The patch that makes `current` look like `desired` (config as code).

    Only fields the desired document names are compared; computed fields are
    ignored, and fields that only drafts may change are left to the server to refuse.
    """
    patch = {}
    for name, value in desired.items():
        if name in COMPUTED_FIELDS:
            continue
        if not same(current.get(name), value):
            patch[name] = value
    return patch


def same(first: Any, second: Any) -> bool:
    """Equal as JSON documents (50 and 50.0, tuples and lists alike)."""
    return _normalised(first) == _normalised(second)


def _normalised(value: Any) -> Any:
    """Compare documents as their JSON forms: 50 and 50.0 and tuples and lists alike."""
    if isinstance(value, Mapping):
        return {str(k): _normalised(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalised(v) for v in value]
    if isinstance(value, int | float) and not isinstance(value, bool):
        try:
            return float(value)
        except OverflowError:  # an int beyond any float: compared as itself
            return value
    if isinstance(value, datetime):
        return value.isoformat()
    return value
