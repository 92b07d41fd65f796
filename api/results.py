"""`GET /experiments/{key}/results[?dimension=...]`: the results of the current phase.

Totals come from the results store (`sinks.totals`), the numbers from
`analysis.report`; answers are cached for a short while per experiment and
dimension, so dashboards polling every second cost one query per period.
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
from analysis.report import experiment_report
from experiments import ConfigSnapshot
from sinks import Sink, SinkError
from sinks.totals import (
    exposed_users_by_slice,
    mismatched_users,
    multiple_exposure_users,
    variant_totals,
)

T = TypeVar("T")
CACHE_S = 1.0  # at most one store query per experiment and second, per worker
STORE_TIMEOUT_S = 15.0  # a store that hangs is down, for someone waiting on an answer


@dataclass
class Results:
    store: ResultsStore
    snapshot: Callable[[], ConfigSnapshot]
    cache: dict[tuple[str, str | None], tuple[float, dict[str, Any]]] = field(
        default_factory=dict)

    async def of(self, key: str, dimension: str | None) -> dict[str, Any]:
        experiment = self.snapshot().experiment(key)
        if experiment is None:
            raise web.HTTPNotFound(reason=f"no experiment {key!r}")
        if dimension is not None and dimension not in experiment.dimensions:
            known = ", ".join(experiment.dimensions) or "none"
            raise web.HTTPBadRequest(
                reason=f"{dimension!r} is not a dimension of {key!r} (configured: {known})")
        cached = self.cache.get((key, dimension))
        if cached and time.monotonic() - cached[0] < CACHE_S:
            return cached[1]
        totals = await self._query(partial(variant_totals, experiment=key,
                                           dimension=dimension))
        exposed = await self._query(partial(exposed_users_by_slice, experiment=key,
                                            phase=experiment.phase, dimension=dimension))
        phase = experiment.phase
        mismatched = await self._query(partial(mismatched_users, experiment=key, phase=phase))
        multiple = await self._query(partial(multiple_exposure_users, experiment=key,
                                             phase=phase))
        totals = [t for t in totals if t.phase == phase]
        metrics = {m.key: m.kind.value for m in experiment.metrics}
        newest = max((t.newest_exposure_ms for t in totals), default=None)
        report = {
            "experiment": key, "phase": phase, "dimension": dimension,
            "control": experiment.control,
            "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
            # Freshness: the latest exposure the figures include.
            "newest_exposure_at": None if newest is None else
            datetime.fromtimestamp(newest / 1000, UTC).isoformat(timespec="seconds"),
            "slices": experiment_report(
                [v.key for v in experiment.variants], experiment.weights, metrics,
                totals, exposed),
            "mismatched_users": mismatched,
            "multiple_exposure_users": multiple,
            "notes": _notes(mismatched, multiple),
        }
        self.cache[(key, dimension)] = (time.monotonic(), report)
        return report


    async def _query(self, query: Callable[[Sink], T]) -> T:
        """A store query's answer; 503 with the reason when the store fails or does not answer."""
        try:
            return await asyncio.wait_for(self.store.call(query), STORE_TIMEOUT_S)
        except SinkError as exc:
            raise web.HTTPServiceUnavailable(reason=f"results store unavailable: {exc}") from exc
        except TimeoutError:
            raise web.HTTPServiceUnavailable(
                reason=f"results store unavailable: it did not answer in "
                       f"{STORE_TIMEOUT_S:g} s") from None


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
    report = await results.of(request.match_info["key"], request.query.get("dimension"))
    return web.json_response(report)
