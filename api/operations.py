"""`GET /operations`: is the pipeline keeping up, and what did it refuse.

Freshness and traffic come from the results store, so they describe the whole
pipeline; consumer lag is this worker's share of the input partitions (each
worker reports the partitions it owns, as `abstream_consumer_lag_messages` does).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from functools import partial
from typing import Any

from aiohttp import web

from agents import metrics
from api.results import RESULTS, Results
from sinks.operations import (
    dead_letters_by_reason,
    newest_exposures,
    recent_rows,
    recent_srm_alerts,
)

RATE_WINDOW_S = 60  # events/s is the average of the last minute
DEAD_LETTER_WINDOW_S = 3600


async def operations_of(results: Results) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    since = now_ms - RATE_WINDOW_S * 1000
    received = {table: await results.query(partial(recent_rows, table=table, since_ms=since))
                for table in ("exposures_raw", "events_raw")}
    newest = await results.query(newest_exposures)
    experiments = {e.key for e in results.snapshot().config.experiments}
    return {
        "computed_at": _iso(now_ms),
        "events_per_second": {table.removesuffix("_raw"): n / RATE_WINDOW_S
                              for table, n in received.items()},
        "freshness": [{"experiment": key, "newest_exposure_at": _iso(newest[key]),
                       "seconds_behind": round((now_ms - newest[key]) / 1000, 1)}
                      for key in sorted(experiments & set(newest))],
        "sink_lag_seconds": _gauge(metrics.SINK_LAG),
        "event_time_lag_seconds": _gauge(metrics.EVENT_TIME_LAG),
        "consumer_lag": _consumer_lag(),
        "dead_letters_last_hour": await results.query(partial(
            dead_letters_by_reason, since_ms=now_ms - DEAD_LETTER_WINDOW_S * 1000)),
        "srm_alerts": await results.query(recent_srm_alerts),
    }


def _consumer_lag() -> list[dict[str, Any]]:
    samples = metrics.CONSUMER_LAG.collect()[0].samples
    return sorted(({"topic": s.labels["topic"], "partition": int(s.labels["partition"]),
                    "messages": int(s.value)} for s in samples),
                  key=lambda row: (row["topic"], row["partition"]))


def _gauge(gauge: Any) -> float | None:
    samples = gauge.collect()[0].samples
    return float(samples[0].value) if samples else None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds")


async def get_operations(request: web.Request) -> web.Response:
    return web.json_response(await operations_of(request.app[RESULTS]))
