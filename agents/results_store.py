"""The worker's one connection to the results store, shared by the sink writer and the API.

Opened (and migrated) on first use. Calls run in a thread, one at a time: the
ClickHouse client and embedded chDB both expect a single caller, and chDB can be
opened only once per process.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable
from typing import TypeVar

from sinks import Sink, open_sink
from sinks.migrations import migrate

T = TypeVar("T")
log = logging.getLogger(__name__)
CLOSE_WAIT_S = 2.0


class ResultsStore:
    def __init__(self, url: str) -> None:
        self.url = url
        self._sink: Sink | None = None
        self._calls = threading.Lock()

    async def call(self, work: Callable[[Sink], T]) -> T:
        """Run `work(sink)` in a thread; raises SinkError when the store cannot be reached."""
        return await asyncio.to_thread(self._locked, work)

    def _locked(self, work: Callable[[Sink], T]) -> T:
        with self._calls:
            if self._sink is None:
                sink = open_sink(self.url)
                try:
                    migrate(sink)
                except BaseException:
                    sink.close()
                    raise
                self._sink = sink
            return work(self._sink)

    def close(self) -> None:
        """Close the connection, unless a call still runs: the worker's stop never waits for
        a hung one (its thread ends with its driver timeout)."""
        if not self._calls.acquire(timeout=CLOSE_WAIT_S):
            log.warning("closing the results store: a call still runs; not waiting for it")
            return
        try:
            if self._sink is not None:
                self._sink.close()
                self._sink = None
        finally:
            self._calls.release()
