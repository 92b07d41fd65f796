"""The worker process: the Faust app, the services its parts share, and the HTTP API."""

from __future__ import annotations

import asyncio
import gc
import logging
import sys
from functools import partial
from pathlib import Path

import faust
from aiohttp import web
from mode import Service
from prometheus_client import REGISTRY

from agents.config_service import ConfigService
from agents.experiment_admin import ExperimentAdmin
from agents.lag_monitor import register_lag_monitor
from agents.metrics import ReadPathStats
from agents.pipeline import register_pipeline
from agents.ramp_scheduler import register_ramp_scheduler
from agents.read_positions import KeptPositions
from agents.readiness import stream_state
from agents.repartition import register_repartition
from agents.results_store import ResultsStore
from agents.sink_writer import register_sink_writer
from agents.srm_monitor import register_srm_monitor
from api.config_views import StreamState
from api.intake import Ingestion
from api.results import Results
from api.routes import build_api
from experiments import ExperimentClient
from infra.errors import InfraError
from schemas.events import EventLimits
from topology.app import create_app
from topology.faust_fixes import seek_sources_to
from topology.local_state import discard_tables_unless_stopped_cleanly, mark_stopped_cleanly
from topology.logs import (
    configure_json_logging,
    keep_credentials_out_of_http_logs,
    logging_config,
)
from topology.producer import EventProducer
from topology.settings import Settings
from topology.topics import (
    abstream_topics,
    describe_topic,
    ensure_topics,
    repartition_topics,
)


class WorkerServices(Service):
    """The worker's composition root: the services its agents and its HTTP API share.

    It tails the config log, holds the event producer and the results store, and
    serves the HTTP API on the worker's web port.
    """

    def __init__(self, settings: Settings, streams: StreamState | None = None,
                 **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.streams = streams  # the Faust app's state, for /ready
        self.config = ConfigService(settings.bootstrap_servers, settings.topics)
        self.producer = EventProducer(settings.bootstrap_servers, settings.topics)
        self.results_store = ResultsStore(settings.results_sink_url)
        self.activations = ExperimentClient(self.config.state.snapshot)
        self._read_stats = ReadPathStats(self.config.state.snapshot, self.activations)
        self._runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        REGISTRY.register(self._read_stats)  # /metrics
        keep_credentials_out_of_http_logs()
        await self.config.start()
        await self.producer.start()
        # Bodies are taken as sent: inflating them would run on the event loop, unbounded.
        self._runner = web.AppRunner(self._web_app(), access_log=None, auto_decompress=False)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.settings.web_host, self.settings.web_port).start()
        self.log.info("API on http://%s:%d", self.settings.web_host, self.settings.web_port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.producer.stop()
        await self.config.stop()
        self.results_store.close()
        REGISTRY.unregister(self._read_stats)

    def _web_app(self) -> web.Application:
        settings = self.settings
        snapshot = self.config.state.snapshot
        ingestion = Ingestion(
            producer=self.producer,
            snapshot=snapshot,
            activations=self.activations,
            limits=EventLimits(max_future_skew_ms=int(settings.max_future_skew_s * 1000)),
            max_batch=settings.max_batch_events,
        )
        return build_api(settings, ExperimentAdmin(self.config), ingestion,
                         Results(self.results_store, snapshot), self.streams)


async def prepare_topics(settings: Settings) -> None:
    """Create missing topics; refuse to run when a user's exposures and goal events could
    land on different workers."""
    specs = abstream_topics(settings.topic_partitions, settings.topics)
    if settings.repartition:
        specs += repartition_topics(settings.topic_partitions, settings.topics)
    await ensure_topics(settings.bootstrap_servers, specs)
    topics = settings.topics
    counts = {name: (await describe_topic(settings.bootstrap_servers, name))[0]
              for name in (topics.exposures, topics.events)}
    if len(set(counts.values())) != 1:
        listing = ", ".join(f"{name} has {n}" for name, n in counts.items())
        raise InfraError(f"exposures and events must have the same number of partitions "
                         f"({listing}); repartition one of them")


def build_worker(settings: Settings) -> tuple[faust.App, WorkerServices]:
    app = create_app(settings)
    # Not app.web_server: that starts only after the first table recovery, and the API,
    # /health and /ready included, must answer during it (run_worker starts it first).
    server = WorkerServices(settings, partial(stream_state, app))
    positions = KeptPositions()  # where each reader of a partition stands
    register_pipeline(app, settings, server.config, positions)
    register_lag_monitor(app, settings)
    if settings.repartition:
        register_repartition(app, settings)
    if settings.write_results:
        register_sink_writer(app, settings, server.results_store, positions,
                             server.config.state.snapshot)
        register_srm_monitor(app, settings, server.config, server.results_store)
        register_ramp_scheduler(app, settings, server.config, server.results_store)
    seek_sources_to(app, positions.topics, positions.lowest)
    return app, server


GC_GENERATION0 = 10_000  # allocations between young collections (Python's default: 700)


def collect_garbage_less_often() -> None:
    """Spare the join the cyclic collector's scans of long-lived objects.

    Every message allocates a few containers (its record, its user's state, facts),
    so the collector ran every few hundred messages and rescanned everything that
    start-up built. Freezing what exists and collecting the young generation less
    often made the join 20-25 % faster in bench/join_core.py (docs/pipeline.md).
    """
    gc.freeze()
    gc.set_threshold(GC_GENERATION0, 10, 10)


def use_uvloop() -> None:
    """Run the worker's event loops (Faust's, and its Kafka client's thread) on uvloop.

    Faust's cost per Kafka record is event-loop work: tasks, futures and callbacks per
    message. uvloop made the decode-only Faust agent 1.31x faster (median of 3 rounds,
    bench/faust_levers.py; docs/pipeline.md).
    """
    import uvloop

    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run_worker(settings: Settings, loglevel: str | None = None) -> None:
    """Run until SIGTERM or SIGINT; stops gracefully: what was processed is committed."""
    from faust.worker import Worker

    level = loglevel or settings.log_level
    json_logs = settings.log_format == "json"
    if json_logs:  # from the first line on, not only once Faust's worker has started
        configure_json_logging(level)
    settings.worker_dir.mkdir(parents=True, exist_ok=True)
    use_uvloop()
    asyncio.run(prepare_topics(settings))  # before Faust subscribes to them
    app, server = build_worker(settings)
    discard_tables_unless_stopped_cleanly(settings.worker_dir, Path(app.conf.tabledir))
    collect_garbage_less_often()
    # The API server is the worker's first service: it starts before the app and stops
    # after it, so the app's agents never see the results store closed under them.
    worker = Worker(
        app, server, loglevel=level, logging_config=logging_config(level, settings.log_format),
        # JSON: no banner or spinner on the console, and whatever a library prints
        # becomes a (JSON) record too.
        quiet=json_logs, redirect_stdouts=json_logs or None,
        redirect_stdouts_level=logging.WARNING if json_logs else None,
    )
    if json_logs or not sys.stdout.isatty():
        worker.spinner = None  # no terminal control codes in log files
    try:
        worker.execute_from_commandline()
    except SystemExit as exit_:
        # Stopped on a signal, every service stopped and no table change left unsent
        # (Faust's stop gives up on its buffer of them after 0.1 s without progress).
        if exit_.code in (0, None) and not app.crashed and not app.producer.buffer.size:
            mark_stopped_cleanly(settings.worker_dir)
        raise
