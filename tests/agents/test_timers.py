"""A timer's body that fails is logged with the timer's name, counted, and not fatal."""

from __future__ import annotations

import asyncio
import logging

import pytest

from agents import metrics
from agents.timers import guarded


def failures(timer: str) -> float:
    return metrics.TIMER_FAILURES.labels(timer)._value.get()


async def test_a_failing_body_is_logged_and_counted_and_the_timer_goes_on(
    caplog: pytest.LogCaptureFixture
) -> None:
    calls = 0

    @guarded("flaky")
    async def body() -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise TimeoutError("pausing timed out")

    before = failures("flaky")
    with caplog.at_level(logging.ERROR, logger="agents.timers"):
        await body()  # does not raise
    await body()
    assert calls == 2
    assert failures("flaky") == before + 1
    [record] = [r for r in caplog.records if r.name == "agents.timers"]
    assert "flaky" in record.getMessage() and record.exc_info is not None


async def test_cancellation_still_stops_the_timer() -> None:
    @guarded("cancelled")
    async def body() -> None:
        raise asyncio.CancelledError

    with pytest.raises(asyncio.CancelledError):
        await body()
    assert failures("cancelled") == 0


def test_the_wrapper_keeps_the_body_s_name() -> None:
    async def check_all() -> None: ...

    assert guarded("srm")(check_all).__name__ == "check_all"
