from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import TEST_PORTS, Servers, open_servers
from topology.settings import Settings, load_settings


@pytest.fixture(scope="session")
def settings() -> Settings:
    """The test stack: its own state dir and ports, the shared jar cache."""
    return load_settings(stack="test", **TEST_PORTS)


@pytest.fixture(scope="session")
def servers(settings: Settings) -> Iterator[Servers]:
    with open_servers(settings) as found:
        yield found


@pytest.fixture
def unique_name() -> str:
    """A fresh name for a topic or table, so tests never see each other's data."""
    return f"t_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def chdb_url(tmp_path: Path) -> str:
    return f"chdb://{tmp_path / 'chdb'}?database=abstream_test"
