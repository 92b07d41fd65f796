"""The Faust application every worker runs; agents and services register on it."""

from __future__ import annotations

import faust

from topology.settings import Settings


def create_app(settings: Settings) -> faust.App:
    return faust.App(
        settings.topic_prefix,  # the app id: one app per topic namespace
        broker=[f"kafka://{server}" for server in settings.bootstrap_servers.split(",")],
        datadir=str(settings.worker_dir),
        topic_replication_factor=1,
        topic_partitions=settings.topic_partitions,
        store="rocksdb://",  # tables on local RocksDB, rebuilt from their changelogs
        broker_session_timeout=settings.kafka_session_timeout_s,
        broker_commit_interval=settings.commit_interval_s,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout_s / 3),
        web_host=settings.web_host,
        web_port=settings.web_port,
        # One stream of logs per worker, and no terminal tricks when output is a file.
        worker_redirect_stdouts=False,
    )
