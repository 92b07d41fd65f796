"""Whatever keeps the results store from answering, the results view answers 503 and why."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from agents.results_store import ResultsStore
from api import results as results_view
from api.results import Results
from sinks import SinkError, open_sink
from tests.experiments.test_client import snapshot


class HungStore(ResultsStore):
    """A store whose driver call never returns (a server that accepts and says nothing)."""

    async def call(self, work: Callable[[Any], Any]) -> Any:
        await asyncio.sleep(3600)


async def test_a_store_that_does_not_answer_is_a_503_in_bounded_time(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(results_view, "STORE_TIMEOUT_S", 0.5)
    view = Results(HungStore("clickhouse://u:s3cret@127.0.0.1:1/db"), snapshot)
    started = time.monotonic()
    with pytest.raises(web.HTTPServiceUnavailable) as caught:
        await view.of("exp", None)
    assert time.monotonic() - started < 5
    assert "results store unavailable" in caught.value.reason
    assert "did not answer" in caught.value.reason


async def test_a_store_that_cannot_be_opened_is_a_503(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")  # a file where the store's directory should be
    view = Results(ResultsStore(f"chdb://{tmp_path / 'file' / 'chdb'}"), snapshot)
    with pytest.raises(web.HTTPServiceUnavailable, match="results store unavailable"):
        await view.of("exp", None)


def test_a_driver_failure_to_open_is_a_sink_error(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    with pytest.raises(SinkError, match="cannot open"):
        open_sink(f"chdb://{tmp_path / 'file' / 'chdb'}")
