from __future__ import annotations

from collections.abc import Iterator

import pytest

from sinks import Sink, open_sink
from tests.servers import Servers


@pytest.fixture(params=["clickhouse", "chdb"])
def sink(request: pytest.FixtureRequest, chdb_url: str) -> Iterator[Sink]:
    """The same test against the real ClickHouse server and embedded chDB."""
    if request.param == "clickhouse":
        servers: Servers = request.getfixturevalue("servers")
        url = servers.clickhouse_url
    else:
        url = chdb_url
    with open_sink(url) as opened:
        opened.ensure_database()
        yield opened


@pytest.fixture(params=["clickhouse", "chdb"])
def fresh_sink(request: pytest.FixtureRequest, chdb_url: str,
               unique_name: str) -> Iterator[Sink]:
    """A database of its own, on the real ClickHouse server and on embedded chDB."""
    if request.param == "clickhouse":
        servers: Servers = request.getfixturevalue("servers")
        url = servers.clickhouse_url.rsplit("/", 1)[0] + f"/{unique_name}"
    else:
        url = chdb_url.replace("database=abstream_test", f"database={unique_name}")
    with open_sink(url) as opened:
        yield opened
        opened.command(f"DROP DATABASE IF EXISTS {opened.database}")
