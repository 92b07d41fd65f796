"""Timer bodies that fail are logged and counted, never fatal: Faust's timer would stop
for good on the first exception that escapes it."""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from agents import metrics

log = logging.getLogger(__name__)
TimerBody = Callable[[], Awaitable[None]]


def guarded(name: str) -> Callable[[TimerBody], TimerBody]:
    """Decorate a timer's body: an exception is logged with the timer's name and counted
    in `abstream_timer_failures_total{timer=name}`; the next interval runs as usual."""
    def decorate(body: TimerBody) -> TimerBody:
        @functools.wraps(body)
        async def run() -> None:
            try:
                await body()
            except asyncio.CancelledError:
                raise  # the worker stops: so does the timer
            except Exception:
                metrics.TIMER_FAILURES.labels(name).inc()
                log.exception("timer %s failed; it runs again at its next interval", name)
        return run
    return decorate
