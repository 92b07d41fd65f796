"""A Faust worker whose agent only decodes: the floor of Faust itself (used by
bench.pipeline and bench.faust_levers).

    python -m bench.faust_floor PREFIX EXPECTED PORT [LEVER] [RUN]

Consumes the exposures and goal-event topics of PREFIX from their beginning (as
the consumer group PREFIX-floor[-LEVER-RUN]), decodes every message, and prints
the messages/s between the first and the EXPECTED-th, then exits. LEVER sets one
of Faust's options away from the worker's settings (`LEVERS`).
"""

from __future__ import annotations

import asyncio
import os
import sys
import time
from collections.abc import Callable
from time import monotonic
from typing import Any

import faust
from faust.sensors import Monitor

from schemas import decode
from topology.settings import load_settings


# Faust's default Monitor counts every message, event, table access and send for
# Faust's own web views; this one keeps only what Faust reads back (the time a
# partition's stream last took an event, for its slow-processing warnings).
class QuietMonitor(Monitor):
    def on_message_in(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_stream_event_in(self, tp: Any, offset: int, stream: Any, event: Any) -> None:
        self.stream_inbound_time[tp] = monotonic()

    def on_stream_event_out(self, tp: Any, offset: int, stream: Any, event: Any,
                            state: Any = None) -> None:
        pass

    def on_message_out(self, tp: Any, offset: int, message: Any) -> None:
        pass

    def on_table_get(self, table: Any, key: Any) -> None:
        pass

    def on_table_set(self, table: Any, key: Any, value: Any) -> None:
        pass

    def on_send_initiated(self, producer: Any, topic: str, message: Any, keysize: int,
                          valsize: int) -> None:
        pass

    def on_send_completed(self, producer: Any, state: Any, metadata: Any) -> None:
        pass


def _uvloop() -> dict[str, Any]:
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
    return {}


# Each lever: the faust.App options it sets (and anything it does first).
LEVERS: dict[str, Callable[[], dict[str, Any]]] = {
    "baseline": dict,  # the worker runs on uvloop (abstream.worker.use_uvloop): not here
    "cython": lambda: {"cython_optimizations": True},
    "quiet monitor": lambda: {"Monitor": QuietMonitor},
    "uvloop": _uvloop,
    "stream buffer 16384": lambda: {"stream_buffer_maxsize": 16_384},
    "poll 2000 records": lambda: {"broker_max_poll_records": 2_000},
    "poll 200 records": lambda: {"broker_max_poll_records": 200},
}


def main() -> None:
    prefix, expected, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    lever, run = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else ("", "")
    options = LEVERS[lever]() if lever else {}
    group = f"{prefix}-floor-{lever.replace(' ', '-')}-{run}" if lever else f"{prefix}-floor"
    settings = load_settings(topic_prefix=prefix, web_port=port)
    datadir = settings.worker_dir / group
    datadir.mkdir(parents=True, exist_ok=True)
    app = faust.App(group, broker=f"kafka://{settings.bootstrap_servers}",
                    datadir=str(datadir), web_port=port, web_host="127.0.0.1",
                    topic_replication_factor=1, worker_redirect_stdouts=False, **options)
    topics = settings.topics
    source = app.topic(topics.exposures, topics.events, key_serializer="raw",
                       value_serializer="raw")
    seen = {"n": 0, "start": 0.0}

    @app.agent(source)
    async def decode_only(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            decode("exposure" if message.topic == topics.exposures else "goal_event",
                   message.value)
            seen["n"] += 1
            if seen["n"] == 1:
                seen["start"] = time.perf_counter()
            if seen["n"] == expected:
                elapsed = time.perf_counter() - seen["start"]
                print(f"RATE {expected / elapsed:.0f}", flush=True)
                os._exit(0)

    from faust.worker import Worker

    worker = Worker(app, loglevel="error")
    worker.spinner = None
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
