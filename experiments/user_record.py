"""The stored form of a user's join state (`UserState.to_dict`): compact, JSON-ready.

The worker's table writes one record per user and batch, so the form is small:
an exposure is a list, not an object, and its experiment and phase are read from
its key. The same lists are what `UserState` works on in memory, so loading and
storing a state copy nothing. Every earlier form stays readable: workers restart
on tables and changelogs written by older versions.

- Form 2: ``"format": 2``; exposures as ``[variant, first, flags, attributes,
  values, covariates, rules]`` (flags: 1 override, 2 multiple, 4 late). An
  optional ``"evict_at"`` keeps the lowest watermark at which anything could be
  evicted, so a loaded state need not scan itself to find it.
- Form 1 (no ``"format"``): exposures as objects with those fields by name.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache
from typing import Any

FORMAT = 2
# The places in an exposure's list, and its flags.
VARIANT, FIRST, FLAGS, ATTRIBUTES, VALUES, COVARIATES, RULES = range(7)
OVERRIDE, MULTIPLE, LATE = 1, 2, 4
Exposure = list[Any]


def new_exposure(variant: str, first: int, override: bool,
                 attributes: dict[str, str]) -> Exposure:
    return [variant, first, OVERRIDE if override else 0, attributes, {}, {}, None]


@lru_cache(maxsize=65_536)
def split_key(key: str) -> tuple[str, int]:
    """"<experiment>/<phase>" → (experiment, phase); keys repeat across users."""
    experiment, phase = key.rsplit("/", 1)
    return experiment, int(phase)


def exposures_of(data: Mapping[str, Any]) -> dict[str, Exposure]:
    """The exposures of a stored record of any form, as `UserState` keeps them: form 2's
    are the record's own lists."""
    if data.get("format") is not None:
        return data["exposures"]
    return {key: [e["variant"], e["first"],
                  OVERRIDE * bool(e["override"]) | MULTIPLE * bool(e["multiple"])
                  | LATE * bool(e.get("late")),
                  e["attributes"], e["values"], e["covariates"], e.get("rules")]
            for key, e in data["exposures"].items()}


def describe(key: str, exposure: Exposure) -> dict[str, Any]:
    """An exposure by field name: for reading and tests, not for the join's hot path."""
    experiment, phase = split_key(key)
    flags = exposure[FLAGS]
    return {"experiment": experiment, "phase": phase, "variant": exposure[VARIANT],
            "first": exposure[FIRST], "override": bool(flags & OVERRIDE),
            "multiple": bool(flags & MULTIPLE), "late": bool(flags & LATE),
            "attributes": exposure[ATTRIBUTES], "values": exposure[VALUES],
            "covariates": exposure[COVARIATES], "rules": exposure[RULES]}
