"""The main job against the real broker, end to end."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient

from abstream.cli import main
from abstream.demo import needed_services, run_demo
from tests.servers import TEST_PORTS, Servers
from topology.settings import load_settings

pytestmark = pytest.mark.infra


def test_the_demo_matches_its_ground_truth_and_leaves_nothing_behind(
    servers: Servers, chdb_url: str
) -> None:
    settings = load_settings(stack="test", **TEST_PORTS, sink_url=chdb_url, web_port=26966)
    lines: list[str] = []
    outcome = run_demo(settings, users=2_000, say=lines.append, progress=io.StringIO())
    assert outcome.exact
    assert len(outcome.comparison) == 16  # 3 experiments: variants × metrics
    assert set(outcome.reports) == {"checkout_button_color", "one_click_checkout",
                                    "search_ranking_v2"}
    assert "16 of 16 rows match exactly (every count and sum)" in lines
    (console,) = [line for line in lines if line.startswith("console ")]
    assert "http://127.0.0.1:26966/ui/ (sign in with the token " in console
    # The results table, from the worker's results API, with every variant's exposures.
    assert sum(line.startswith("checkout_button_color  phase 1") for line in lines) == 1
    report = outcome.reports["checkout_button_color"]
    exposures = report["slices"][0]["exposures"]
    truth = {row["variant"]: row["expected"]["n"] for row in outcome.comparison
             if row["experiment"] == "checkout_button_color"}
    assert exposures == truth
    assert report["slices"][0]["srm"]["status"] == "ok"  # the simulator assigns fairly
    assert not asyncio.run(_topics_named("demo-", servers.bootstrap))


async def _topics_named(prefix: str, bootstrap: str) -> list[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        return [name for name in await admin.list_topics() if name.startswith(prefix)]
    finally:
        await admin.close()


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


def test_keep_running_leaves_the_console_up_on_the_demos_data(
    servers: Servers, chdb_url: str, tmp_path: Path,
) -> None:
    env = {**os.environ, "ABSTREAM_STACK": "test", "ABSTREAM_SINK_URL": chdb_url,
           "ABSTREAM_WEB_PORT": "26967",
           **{f"ABSTREAM_{k.upper()}": str(v) for k, v in TEST_PORTS.items()}}
    out = (tmp_path / "demo.out").open("w+")
    demo = subprocess.Popen([sys.executable, "-m", "abstream.cli", "demo", "--users", "500",
                             "--keep-running"], env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 240
        while "the console is up" not in (text := (tmp_path / "demo.out").read_text()):
            assert demo.poll() is None and time.monotonic() < deadline, text
            time.sleep(1)
        with urllib.request.urlopen("http://127.0.0.1:26967/ui/", timeout=30) as page:
            html = page.read().decode()
        assert page.status == 200 and 'data-key="checkout_button_color"' in html
        assert 'class="exposures" data-variant="blue" data-value=""' not in html  # counted
        demo.send_signal(signal.SIGINT)
        assert demo.wait(timeout=60) == 0
        assert "stopping the worker" in (tmp_path / "demo.out").read_text()
    finally:
        if demo.poll() is None:
            demo.kill()
        out.close()
