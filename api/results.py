"""An experiment's results, over time and its power: the current phase's, from the store.

`GET /experiments/{key}/results[?dimension=...]`: totals from the results store
(`sinks.totals`), numbers from `analysis.report`. `.../timeline?bucket=hour|day`: the
same report on cumulative totals by first exposure (`sinks.timeline`). `.../power?mde=`:
days until a relative effect is detectable (`analysis.planning`). Answers are cached
per experiment and question, so dashboards polling every second cost one query per
period: results for 1 s, the cumulative charts for a minute.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Any, TypeVar

from aiohttp import web

from agents.results_store import ResultsStore
from analysis.errors import AnalysisError
from analysis.planning import DEFAULT_TARGET, power_plan
from analysis.report import experiment_report
from api.phases import phase_list, phase_number, phase_of
from experiments import ConfigSnapshot
from experiments.model import Experiment
from sinks import Sink, SinkError
from sinks.timeline import BUCKET_MS, cumulative_totals
from sinks.totals import (
    exposed_users_by_slice,
    mismatched_users,
    multiple_exposure_users,
    variant_totals,
)

T = TypeVar("T")
CACHE_S = 1.0  # at most one store query per experiment and second, per worker
# Cumulative charts by hour or day move slowly: their (costlier) answers are kept longer.
TIMELINE_CACHE_S = 60.0
STORE_TIMEOUT_S = 15.0  # a store that hangs is down, for someone waiting on an answer


@dataclass
class Results:
    store: ResultsStore
    snapshot: Callable[[], ConfigSnapshot]
    cache: dict[tuple[str, ...], tuple[float, dict[str, Any]]] = field(default_factory=dict)

    def _experiment(self, key: str) -> Experiment:
        experiment = self.snapshot().experiment(key)
        if experiment is None:
            raise web.HTTPNotFound(reason=f"no experiment {key!r}")
        return experiment

    def _cached(self, question: tuple[str, ...], ttl_s: float = CACHE_S,
                ) -> dict[str, Any] | None:
        cached = self.cache.get(question)
        return cached[1] if cached and time.monotonic() - cached[0] < ttl_s else None

    async def of(self, key: str, dimension: str | None, cuped: bool = True,
                 phase: int | None = None) -> dict[str, Any]:
        """The report of `phase` (default: the current one), with every phase listed."""
        experiment = self._experiment(key)
        chosen = phase_of(experiment, phase)
        if dimension is not None and dimension not in experiment.dimensions:
            known = ", ".join(experiment.dimensions) or "none"
            raise web.HTTPBadRequest(
                reason=f"{dimension!r} is not a dimension of {key!r} (configured: {known})")
        question = (key, dimension or "", "cuped" if cuped else "plain", str(chosen.number))
        if cached := self._cached(question):
            return cached
        phase = chosen.number
        totals = await self.query(partial(variant_totals, experiment=key,
                                           dimension=dimension))
        exposed = await self.query(partial(exposed_users_by_slice, experiment=key,
                                            phase=phase, dimension=dimension))
        mismatched = await self.query(partial(mismatched_users, experiment=key, phase=phase))
        multiple = await self.query(partial(multiple_exposure_users, experiment=key,
                                             phase=phase))
        totals = [t for t in totals if t.phase == phase]
        metrics = {m.key: m.kind.value for m in experiment.metrics}
        current = chosen.number == experiment.phase
        weights = dict(chosen.weights or experiment.weights)
        newest = max((t.newest_exposure_ms for t in totals), default=None)
        oldest = min((t.oldest_exposure_ms for t in totals), default=None)
        report = {
            "experiment": key, "phase": phase, "dimension": dimension,
            "control": experiment.control,
            "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            # Freshness: the latest exposure the figures include.
            "newest_exposure_at": None if newest is None else
            datetime.fromtimestamp(newest / 1000, UTC).isoformat(timespec="seconds"),
            # Since when users are counted: the daily traffic of power plans.
            "exposure_span_days": None if newest is None or oldest is None else
            (newest - oldest) / 86_400_000,
            "cuped": cuped,
            "phases": phase_list(experiment),
            "slices": experiment_report(list(weights), weights, metrics, totals, exposed,
                                        cuped=cuped),
            "mismatched_users": mismatched,
            "multiple_exposure_users": multiple,
            "notes": _notes(mismatched, multiple),
        }
        if chosen.weights is None and not current:  # an old phase, its allocation unknown
            for entry in report["slices"]:
                entry["srm"] = {"status": "unknown"}
            report["notes"].append(f"phase {phase} began before phases recorded their "
                                   "allocation: its SRM cannot be judged, and its arms are "
                                   "today's variants")
        self.cache[question] = (time.monotonic(), report)
        return report

    async def timeline(self, key: str, bucket: str) -> dict[str, Any]:
        experiment = self._experiment(key)
        if bucket not in BUCKET_MS:
            raise web.HTTPBadRequest(reason=f"bucket must be hour or day, not {bucket!r}")
        if cached := self._cached((key, "timeline", bucket), TIMELINE_CACHE_S):
            return cached
        totals, exposed = await self.query(partial(
            cumulative_totals, experiment=key, phase=experiment.phase,
            bucket_ms=BUCKET_MS[bucket]))
        metrics = {m.key: m.kind.value for m in experiment.metrics}
        slices = experiment_report([v.key for v in experiment.variants], experiment.weights,
                                   metrics, totals, exposed)
        points = [{"until": _iso(int(s["slice"])), "exposures": s["exposures"],
                   "comparisons": [_over_time(c) for c in s["comparisons"]]} for s in slices]
        answer = {"experiment": key, "phase": experiment.phase, "bucket": bucket,
                  "control": experiment.control, "points": points}
        self.cache[(key, "timeline", bucket)] = (time.monotonic(), answer)
        return answer

    async def power(self, key: str, target: float) -> dict[str, Any]:
        """Days until each comparison detects `target` (relative), at the traffic per day
        since the phase's first exposure counted."""
        report = await self.of(key, None)
        days = max(report["exposure_span_days"] or 0.0, 1 / 24)  # at least an hour
        overall = report["slices"][0] if report["slices"] else {"exposures": {},
                                                                  "comparisons": []}
        per_day = {variant: n / days for variant, n in overall["exposures"].items()}
        try:
            plans = power_plan(overall, per_day, target)
        except AnalysisError as exc:
            raise web.HTTPBadRequest(reason=str(exc)) from None
        return {"experiment": key, "phase": report["phase"], "target_mde": target,
                "relative": True, "power": 0.8, "alpha": 0.05, "days_of_traffic": days,
                "users_per_day": per_day, "comparisons": plans}

    async def query(self, query: Callable[[Sink], T]) -> T:
        """A store query's answer; 503 with the reason when the store fails or does not answer."""
        try:
            return await asyncio.wait_for(self.store.call(query), STORE_TIMEOUT_S)
        except SinkError as exc:
            raise web.HTTPServiceUnavailable(reason=f"results store unavailable: {exc}") from exc
        except TimeoutError:
            raise web.HTTPServiceUnavailable(
                reason=f"results store unavailable: it did not answer in "
                       f"{STORE_TIMEOUT_S:g} s") from None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


def _over_time(comparison: dict[str, Any]) -> dict[str, Any]:
    keep = ("metric", "variant", "control_n", "treatment_n", "lift", "lift_ci_always_valid",
            "diff", "diff_ci_always_valid", "p_value_always_valid", "error")
    return {k: comparison[k] for k in keep if k in comparison}


def _notes(mismatched: int, multiple: int) -> list[str]:
    notes = []
    if mismatched:
        notes.append(f"{mismatched} users have an exposure whose variant is not the one the "
                     "configuration assigns them (a stale client, or forged input): the "
                     "figures include them")
    if multiple:
        notes.append(f"{multiple} users were exposed to more than one variant: each is "
                     "counted once, in the variant of their earliest exposure")
    return notes


RESULTS = web.AppKey("results", Results)


async def get_results(request: web.Request) -> web.Response:
    results = request.app[RESULTS]
    report = await results.of(request.match_info["key"], request.query.get("dimension"),
                              cuped=request.query.get("cuped", "true").lower() != "false",
                              phase=phase_number(request.query.get("phase")))
    return web.json_response(report)


async def get_timeline(request: web.Request) -> web.Response:
    results = request.app[RESULTS]
    return web.json_response(await results.timeline(request.match_info["key"],
                                                    request.query.get("bucket", "hour")))


def target_of(request: web.Request) -> float:
    raw = request.query.get("mde", str(DEFAULT_TARGET))
    try:
        return float(raw)
    except ValueError:
        raise web.HTTPBadRequest(reason=f"mde must be a number (0.02 = 2 %), not {raw!r}")\
            from None


async def get_power(request: web.Request) -> web.Response:
    results = request.app[RESULTS]
    return web.json_response(await results.power(request.match_info["key"], target_of(request)))
