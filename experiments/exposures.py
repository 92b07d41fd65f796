"""Whether an exposure can be true of a configuration: known names, and the variant it gives.

An exposure is evidence only if it names an experiment that is served (not a
draft), a variant and a phase that exist. The model keeps only the current
phase's variants, so an earlier phase is accepted when its variant is one of the
experiment's; a phase after the current one cannot have happened yet.

An exposure of the current phase, not an override, whose variant is not the one
the configuration assigns to that user (with the exposure's attributes) is
possible (a client with a stale config) but also what forged input looks like:
`disagrees` tells, so it can be counted and shown beside the results.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from experiments.model import Status
from experiments.snapshot import ConfigSnapshot, Reason, assign


def unknown_reason(snapshot: ConfigSnapshot, exposure: Mapping[str, Any]) -> str | None:
    """Why the exposure names something the configuration does not have; None if it does."""
    key, variant, phase = exposure["experiment"], exposure["variant"], exposure["phase"]
    experiment = snapshot.experiment(key)
    if experiment is None:
        return f"unknown experiment: {_shown(key)}"
    if experiment.status is Status.DRAFT:  # drafts are never served: nobody can have seen one
        return f"unknown experiment: {_shown(key)} is a draft, not yet served"
    if all(v.key != variant for v in experiment.variants):
        return f"unknown variant: {_shown(variant)} is not a variant of {_shown(key)}"
    if phase > experiment.phase:
        return (f"unknown phase: phase {phase} is not a phase of {_shown(key)} "
                f"(its current phase is {experiment.phase})")
    return None


def disagrees(snapshot: ConfigSnapshot, exposure: Mapping[str, Any]) -> bool:
    """True if a known, current, non-override exposure shows another variant than assigned."""
    experiment = snapshot.experiment(exposure["experiment"])
    if (experiment is None or experiment.status is not Status.ACTIVE
            or exposure.get("override") or exposure["phase"] != experiment.phase
            or unknown_reason(snapshot, exposure) is not None):
        return False
    found = assign(snapshot, experiment.key, exposure["user_id"], exposure.get("attributes"))
    return found is not None and found.reason is not Reason.ERROR \
        and found.variant != exposure["variant"]


def _shown(name: str) -> str:
    return repr(name[:64])


def exposure_event(*, event_id: str, user_id: str, experiment: str, variant: str, phase: int,
                   config_version: int, timestamp: int, attributes: Mapping[str, Any],
                   source: str, override: bool = False,
                   received_at: int | None = None) -> dict[str, Any]:
    """An Exposure record, attributes written as strings the way the intake writes them."""
    return {"event_id": event_id, "user_id": user_id, "experiment": experiment,
            "variant": variant, "phase": phase, "config_version": config_version,
            "timestamp": timestamp,
            "received_at": timestamp if received_at is None else received_at,
            # Only scalars become text: anything else stays as it is, for the checks to refuse.
            "attributes": {str(k): attribute_text(v) if isinstance(v, str | int | float) else v
                           for k, v in attributes.items()
                           if v is not None},
            "source": source, "override": override}


def attribute_text(value: str | int | float | bool) -> str:
    """How an attribute value is stored: booleans as "true"/"false", the rest as str()."""
    return ("true" if value else "false") if isinstance(value, bool) else str(value)
