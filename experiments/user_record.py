"""The stored form of a user's join state (`UserState.to_dict`): compact, JSON-ready.

The worker's table writes one record per user and batch, so the form is small:
an exposure is a list, not an object, and its experiment and phase are read from
its key. Every earlier form stays readable: workers restart on tables and
changelogs written by older versions.

- Form 2: ``"format": 2``; exposures as ``[variant, first, flags, attributes,
  values, covariates, rules]`` (flags: 1 override, 2 multiple, 4 late).
- Form 1 (no ``"format"``): exposures as the objects `UserState` keeps in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

FORMAT = 2
_OVERRIDE, _MULTIPLE, _LATE = 1, 2, 4


def pack_exposures(exposures: Mapping[str, dict[str, Any]]) -> dict[str, list[Any]]:
    return {key: [e["variant"], e["first"],
                  (e["override"] and _OVERRIDE) | (e["multiple"] and _MULTIPLE)
                  | (e["late"] and _LATE),
                  e["attributes"], e["values"], e["covariates"], e.get("rules")]
            for key, e in exposures.items()}


def unpack_exposures(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The exposures of a stored record of any form, as `UserState` keeps them (form 1's
    are the record's own)."""
    if data.get("format") is None:
        return data["exposures"]
    exposures = {}
    for key, (variant, first, flags, attributes, values, covariates, rules) in (
            data["exposures"].items()):
        experiment, phase = key.rsplit("/", 1)
        exposures[key] = {
            "experiment": experiment, "phase": int(phase), "variant": variant,
            "first": first, "override": bool(flags & _OVERRIDE),
            "multiple": bool(flags & _MULTIPLE), "attributes": attributes,
            "late": bool(flags & _LATE), "values": values, "covariates": covariates,
            "rules": rules}
    return exposures
