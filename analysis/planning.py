"""How long until an experiment can detect a chosen effect, at the traffic it gets.

From a results slice (`analysis.report`): each comparison's standard error gives the
per-user variance, σ² = se² / (1/n_c + 1/n_t) (after CUPED, when it applied), and
`analysis.power` the users per variant that detect a relative effect `target` at 80 %
power; the daily traffic per variant turns the users still missing into days.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from analysis import power
from analysis.errors import AnalysisError

DEFAULT_TARGET = 0.02  # a 2 % relative effect
MIN_TARGET, MAX_TARGET = 1e-6, 100.0  # smaller effects need more users than a float holds


def power_plan(slice_report: Mapping[str, Any], users_per_day: Mapping[str, float],
               target: float = DEFAULT_TARGET, alpha: float = 0.05,
               wanted_power: float = 0.8) -> list[dict[str, Any]]:
    """Per comparison: today's MDE, the users per variant `target` needs, the days left."""
    if not (math.isfinite(target) and MIN_TARGET <= target <= MAX_TARGET):
        raise AnalysisError(f"the target effect must be a relative effect between "
                            f"{MIN_TARGET:g} and {MAX_TARGET:g} (0.02 = 2 %), not {target!r}")
    plans = []
    control = next(iter(slice_report["exposures"]), None)
    for entry in slice_report["comparisons"]:
        plan: dict[str, Any] = {"metric": entry["metric"], "variant": entry["variant"]}
        try:
            plan |= _plan(entry, users_per_day.get(control, 0.0),
                          users_per_day.get(entry["variant"], 0.0), target, alpha, wanted_power)
        except AnalysisError as exc:
            plan["error"] = str(exc)
        plans.append(plan)
    return plans


def _plan(entry: Mapping[str, Any], control_per_day: float, treatment_per_day: float,
          target: float, alpha: float, wanted_power: float) -> dict[str, Any]:
    if "error" in entry:
        raise AnalysisError(entry["error"])
    n_c, n_t, se = entry["control_n"], entry["treatment_n"], entry["std_error"]
    if min(n_c, n_t) < 2 or not (se and math.isfinite(se)):
        raise AnalysisError("not enough users yet to estimate the variance")
    variance = se * se / (1 / n_c + 1 / n_t)
    options = {"baseline": entry["control_mean"], "variance": variance, "alpha": alpha,
               "power": wanted_power}
    now = min(n_c, n_t)
    try:
        needed = power.sample_size(target, **options)
    except (OverflowError, ZeroDivisionError, ValueError):
        raise AnalysisError(f"no sample size detects {target:g} at this variance") from None
    per_day = min(control_per_day, treatment_per_day)
    missing = max(0, needed - now)
    days = 0.0 if missing == 0 else (missing / per_day if per_day > 0 else None)
    return {"baseline": entry["control_mean"], "users_now": now,
            "mde_now": power.mde(now, **options), "users_needed": needed,
            "users_per_day": per_day, "days_left": days}
