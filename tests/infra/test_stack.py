"""A whole second stack on its own ports: up twice, status, down, nothing left behind."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import InfraError, Stack
from topology.settings import Settings, load_settings


@pytest.fixture
def spare_settings(settings: Settings, tmp_path: Path) -> Iterator[Settings]:
    """Local servers on other ports and dirs than the shared test stack (same jar cache)."""
    spare = load_settings(
        local_dir=settings.local_dir, stack=f"lifecycle-{tmp_path.name}"[:60],
        kafka_bootstrap=None, clickhouse_url=None,
        kafka_port=29192, kafka_controller_port=29193,
        clickhouse_port=29100, clickhouse_http_port=28223,
    )
    yield spare
    Stack(spare).down()
    shutil.rmtree(spare.home, ignore_errors=True)


@pytest.mark.infra
def test_up_twice_then_down_leaves_nothing_running(spare_settings: Settings) -> None:
    stack = Stack(spare_settings)
    try:
        first = stack.up()
        assert all(seconds is not None and seconds > 0 for seconds in first.values())
        pids = {status.name: status.pid for status in stack.status()}
        assert all(pids.values())

        assert stack.up() == {"kafka": None, "clickhouse": None}  # harmless second call
        statuses = stack.status()
        assert {s.name: s.pid for s in statuses} == pids
        assert all(s.answers and s.managed for s in statuses)
        assert "127.0.0.1:29192" in statuses[0].describe()
    finally:
        stopped = stack.down()
    assert sorted(stopped) == ["clickhouse", "kafka"]
    for pid in pids.values():
        assert not Path(f"/proc/{pid}").exists(), f"pid {pid} still running"
    assert not any(s.answers or s.pid for s in stack.status())
    assert stack.down() == []


def test_unknown_service_names_the_choices(spare_settings: Settings) -> None:
    expected = "unknown service 'zookeeper'; choose from kafka, clickhouse"
    with pytest.raises(InfraError, match=expected):
        Stack(spare_settings).up(["zookeeper"])


def test_external_servers_are_checked_not_started(tmp_path: Path) -> None:
    settings = load_settings(
        local_dir=tmp_path, kafka_bootstrap="127.0.0.1:1",
        clickhouse_url="clickhouse://127.0.0.1:1/abstream",
    )
    stack = Stack(settings)
    assert stack.local == {}
    with pytest.raises(InfraError, match=r"kafka at 127\.0\.0\.1:1 does not answer"):
        stack.up(["kafka"])
    assert [s.describe().split()[:2] for s in stack.status()] == [
        ["kafka", "down"], ["clickhouse", "down"]
    ]
