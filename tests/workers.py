"""What the tests that run real workers share: their tokens and a results database."""

from __future__ import annotations

import os
import uuid

from tests.servers import Servers

# Where the shared test workers listen; set apart when two test runs share a machine.
_FIRST_PORT = int(os.environ.get("ABSTREAM_TEST_WORKER_PORT", "26066"))
WORKER_PORTS = (_FIRST_PORT, _FIRST_PORT + 1)
# Unscoped (admin, review and read), as ABSTREAM_API_TOKENS's original form.
TOKENS = {"alice": "alice-secret-token", "bob": "bob-secret-token"}
INTAKE_TOKEN = "web-intake-token"
# One token per scope, for the tests of the access policy: actor → (token, scope).
SCOPED_TOKENS = {"ops": ("ops-admin-token", "admin"), "qa": ("qa-review-token", "review"),
                 "reader": ("reader-read-token", "read"), "web": (INTAKE_TOKEN, "intake")}
INTAKE_HEADERS = {"Authorization": f"Bearer {INTAKE_TOKEN}"}


def api_tokens() -> str:
    """ABSTREAM_API_TOKENS for a test worker: every token above."""
    return ",".join([*(f"{actor}:{token}" for actor, token in TOKENS.items()),
                     *(f"{actor}:{token}:{scope}"
                       for actor, (token, scope) in SCOPED_TOKENS.items())])


def results_url(servers: Servers) -> str:
    """A database of its own on the test ClickHouse server, for one set of workers."""
    return servers.clickhouse_url.rsplit("/", 1)[0] + f"/t_{uuid.uuid4().hex[:12]}"
