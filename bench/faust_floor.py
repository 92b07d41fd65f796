"""A Faust worker whose agent only decodes: the floor of Faust itself (used by bench.pipeline).

    python -m bench.faust_floor PREFIX EXPECTED PORT

Consumes the exposures and goal-event topics of PREFIX, decodes every message,
and prints the messages/s between the first and the EXPECTED-th, then exits.
"""

from __future__ import annotations

import os
import sys
import time

import faust

from schemas import decode
from topology.settings import load_settings


def main() -> None:
    prefix, expected, port = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    settings = load_settings(topic_prefix=prefix, web_port=port)
    (settings.worker_dir / "floor").mkdir(parents=True, exist_ok=True)
    app = faust.App(f"{prefix}-floor", broker=f"kafka://{settings.bootstrap_servers}",
                    datadir=str(settings.worker_dir / "floor"), web_port=port,
                    web_host="127.0.0.1", topic_replication_factor=1,
                    worker_redirect_stdouts=False)
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
