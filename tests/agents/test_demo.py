"""The main job against the real broker, end to end."""

from __future__ import annotations

import pytest

from abstream.cli import main
from agents.demo import needed_services, run_demo
from tests.servers import TEST_PORTS, Servers
from topology.settings import load_settings

pytestmark = pytest.mark.infra


def test_demo_round_trips_one_exposure_into_chdb(servers: Servers, chdb_url: str) -> None:
    settings = load_settings(stack="test", **TEST_PORTS, sink_url=chdb_url)
    lines: list[str] = []
    row = run_demo(settings, say=lines.append)
    assert row["user_id"] == "demo-user-1"
    assert row["experiment"] == "checkout_button_color"
    assert row["variant"] == "green"
    produced = "kafka      produced and consumed abstream.exposures["
    assert any(line.startswith(produced) for line in lines)
    assert f"  event_id        {row['event_id']}" in lines


def test_demo_needs_the_clickhouse_server_only_when_it_is_the_sink() -> None:
    local = load_settings(stack="x", clickhouse_url=None, kafka_bootstrap=None)
    assert needed_services(local) == ["kafka"]
    server_sink = load_settings(
        stack="x", clickhouse_url=None, sink_url=local.clickhouse_server_url
    )
    assert needed_services(server_sink) == ["kafka", "clickhouse"]


def test_cli_status_lists_both_services(
    servers: Servers, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABSTREAM_STACK", "test")
    for name, value in TEST_PORTS.items():
        monkeypatch.setenv(f"ABSTREAM_{name.upper()}", str(value))
    assert main(["infra", "status"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in out] == [["kafka", "up"], ["clickhouse", "up"]]


def test_cli_reports_errors_without_a_traceback(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ABSTREAM_KAFKA_PORT", "not-a-port")
    assert main(["settings"]) == 1
    assert "abstream: error: invalid settings: ABSTREAM_KAFKA_PORT" in capsys.readouterr().err
