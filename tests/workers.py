"""What the tests that run real workers share: their tokens and a results database."""

from __future__ import annotations

import uuid

from tests.servers import Servers

TOKENS = {"alice": "alice-secret-token", "bob": "bob-secret-token"}


def results_url(servers: Servers) -> str:
    """A database of its own on the test ClickHouse server, for one set of workers."""
    return servers.clickhouse_url.rsplit("/", 1)[0] + f"/t_{uuid.uuid4().hex[:12]}"
