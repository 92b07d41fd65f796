"""What the tests that run real workers share: their tokens and a results database."""

from __future__ import annotations

import os
import uuid

from tests.servers import Servers

# Where the shared test workers listen; set apart when two test runs share a machine.
_FIRST_PORT = int(os.environ.get("ABSTREAM_TEST_WORKER_PORT", "26066"))
WORKER_PORTS = (_FIRST_PORT, _FIRST_PORT + 1)
TOKENS = {"alice": "alice-secret-token", "bob": "bob-secret-token"}


def results_url(servers: Servers) -> str:
    """A database of its own on the test ClickHouse server, for one set of workers."""
    return servers.clickhouse_url.rsplit("/", 1)[0] + f"/t_{uuid.uuid4().hex[:12]}"
