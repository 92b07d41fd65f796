"""The Faust application every worker runs; agents and services register on it."""

from __future__ import annotations

import faust

from topology.faust_fixes import apply_corrections
from topology.settings import Settings


def create_app(settings: Settings) -> faust.App:
    """The app, with the corrections to Faust that exactness depends on already applied."""
    app = faust.App(
        settings.topic_prefix,  # the app id: one app per topic namespace
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        datadir=str(settings.worker_dir),
        topic_replication_factor=1,
        topic_partitions=settings.topic_partitions,
        store="rocksdb://",  # tables on local RocksDB, rebuilt from their changelogs
        # Standbys keep a copy of each table partition warm on other workers, so a
        # partition that moves after a worker leaves needs little or no recovery.
        table_standby_replicas=settings.standby_replicas,
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_commit_interval=settings.commit_interval_s,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_s / 3),
        web_host=settings.web_host,
        web_port=settings.web_port,
        # The worker's own HTTP API (api/) runs beside the app from the start, so
        # /health and /ready answer during table recovery: no Faust web server.
        web_enabled=False,
        # One stream of logs per worker, and no terminal tricks when output is a file.
        worker_redirect_stdouts=False,
    )
    apply_corrections(app)
    return app
