"""Where the integration tests find Kafka and ClickHouse.

ABSTREAM_TEST_SERVERS chooses:
- ``local`` (default; what CI uses): the real servers of ``infra/``, started once
  per test run on their own ports and stopped at the end if the run started them;
- ``external``: the servers named by ABSTREAM_KAFKA_BOOTSTRAP and ABSTREAM_CLICKHOUSE_URL;
- ``containers``: Docker containers through testcontainers (``pip install -e '.[containers]'``).
A server that cannot be reached is an error, never a skip.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from infra import Stack
from topology.settings import Settings

# Every port here, and in the other tests and benchmarks, stays below 32768,
# below the range Linux takes the local ports of outgoing connections from.
TEST_PORTS = {
    "kafka_port": 29092,
    "kafka_controller_port": 29093,
    "clickhouse_port": 29000,
    "clickhouse_http_port": 28123,
}


@dataclass(frozen=True)
class Servers:
    bootstrap: str
    clickhouse_url: str  # clickhouse://host:port/database


@contextmanager
def open_servers(settings: Settings) -> Iterator[Servers]:
    mode = os.environ.get("ABSTREAM_TEST_SERVERS", "local")
    if mode == "containers":
        with _containers(settings.database) as servers:
            yield servers
        return
    if mode not in ("local", "external"):
        raise ValueError(f"ABSTREAM_TEST_SERVERS={mode!r}: use local, external or containers")
    stack = Stack(settings)
    started = [name for name, waited in stack.up().items() if waited is not None]
    try:
        yield Servers(settings.bootstrap_servers, settings.clickhouse_server_url)
    finally:
        stack.down(started)


@contextmanager
def _containers(database: str) -> Iterator[Servers]:
    from testcontainers.clickhouse import ClickHouseContainer
    from testcontainers.kafka import KafkaContainer

    with (
        KafkaContainer("confluentinc/cp-kafka:7.6.0").with_kraft() as kafka,
        ClickHouseContainer("clickhouse/clickhouse-server:24.8") as clickhouse,
    ):
        url = urlsplit(clickhouse.get_connection_url())
        yield Servers(
            kafka.get_bootstrap_server(), urlunsplit(url._replace(path=f"/{database}"))
        )
