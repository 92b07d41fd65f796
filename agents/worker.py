"""The worker process: the Faust app with the config service and the HTTP API."""

from __future__ import annotations

import asyncio
import sys

import faust
from aiohttp import web
from mode import Service

from agents.api import build_api
from agents.config_service import ConfigService
from agents.experiment_admin import ExperimentAdmin
from agents.ingest_api import Ingestion, add_ingest_routes
from agents.pipeline import register_pipeline
from agents.repartition import register_repartition
from agents.results_api import Results, add_results_routes
from agents.results_store import ResultsStore
from agents.sink_writer import register_sink_writer
from agents.srm_monitor import register_srm_monitor
from experiments import ExperimentClient
from infra.errors import InfraError
from schemas.events import EventLimits
from topology.app import create_app
from topology.producer import EventProducer
from topology.settings import Settings
from topology.topics import (
    abstream_topics,
    describe_topic,
    ensure_topics,
    repartition_topics,
)


class ApiServer(Service):
    """Tails the config log and serves the HTTP API on the worker's web port."""

    def __init__(self, settings: Settings, **kwargs: object) -> None:
        super().__init__(**kwargs)
        self.settings = settings
        self.config = ConfigService(settings.bootstrap_servers, settings.topics)
        self.producer = EventProducer(settings.bootstrap_servers, settings.topics)
        self.results_store = ResultsStore(settings.results_sink_url)
        self._runner: web.AppRunner | None = None

    async def on_start(self) -> None:
        await self.config.start()
        await self.producer.start()
        self._runner = web.AppRunner(self._web_app(), access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, self.settings.web_host, self.settings.web_port).start()
        self.log.info("API on http://%s:%d", self.settings.web_host, self.settings.web_port)

    async def on_stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        await self.producer.stop()
        await self.config.stop()
        self.results_store.close()

    def _web_app(self) -> web.Application:
        settings = self.settings
        app = build_api(ExperimentAdmin(self.config), settings)
        snapshot = self.config.state.snapshot
        add_ingest_routes(app, Ingestion(
            producer=self.producer,
            snapshot=snapshot,
            activations=ExperimentClient(snapshot),
            limits=EventLimits(max_future_skew_ms=int(settings.max_future_skew_s * 1000)),
            max_batch=settings.max_batch_events,
            max_body=settings.max_body_bytes,
        ))
        add_results_routes(app, Results(self.results_store, snapshot))
        return app


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


def build_worker(settings: Settings) -> tuple[faust.App, ApiServer]:
    app = create_app(settings)
    server = ApiServer(settings)
    app.web_server(server)
    register_pipeline(app, settings, server.config)
    if settings.repartition:
        register_repartition(app, settings)
    if settings.write_results:
        register_sink_writer(app, settings, server.results_store)
        register_srm_monitor(app, settings, server.config, server.results_store)
    return app, server


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    """Run until SIGTERM or SIGINT; stops gracefully."""
    from faust.worker import Worker

    settings.worker_dir.mkdir(parents=True, exist_ok=True)
    asyncio.run(prepare_topics(settings))  # before Faust subscribes to them
    app, _ = build_worker(settings)
    worker = Worker(app, loglevel=loglevel)
    if not sys.stdout.isatty():
        worker.spinner = None  # no terminal control codes in log files
    worker.execute_from_commandline()
