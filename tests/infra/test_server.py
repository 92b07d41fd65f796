"""A local server counts as started only when the process it started is the one answering."""

from __future__ import annotations

import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra.clickhouse import LocalClickHouse
from infra.errors import InfraError
from infra.server import LocalServer

PORT = 24517  # the throwaway ports of these tests: 24000-24999


@pytest.fixture
def held_port() -> Iterator[int]:
    """Another process's listener on PORT (a plain socket that never answers)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("127.0.0.1", PORT))
        listener.listen()
        yield PORT


class FakeServer(LocalServer):
    """Runs `script`; 'answers' whenever anything accepts connections on its port."""

    name = "fake"
    start_timeout_s = 10.0

    def __init__(self, home: Path, script: str, port: int = PORT) -> None:
        super().__init__(home, "fake.conf", "stdout.log")
        self.script, self.port = script, port

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def ports(self) -> dict[str, int]:
        return {"ABSTREAM_FAKE_PORT": self.port}

    def install(self) -> None:
        pass

    def prepare(self) -> list[str]:
        self.home.mkdir(parents=True, exist_ok=True)
        self.config_file.write_text("")
        return [sys.executable, "-c", self.script, str(self.config_file)]

    def answers(self) -> bool:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            return probe.connect_ex(("127.0.0.1", self.port)) == 0


DIES = "import sys; print('Address already in use', flush=True); sys.exit(1)"


def test_a_port_held_by_another_process_is_refused_before_starting(
    tmp_path: Path, held_port: int
) -> None:
    server = FakeServer(tmp_path, DIES)
    with pytest.raises(InfraError) as caught:
        server.up()
    message = str(caught.value)
    assert f"port {held_port}" in message and "another process" in message, message
    assert "ABSTREAM_FAKE_PORT" in message
    assert server.process.pid() is None  # nothing was started


def test_a_started_process_that_exits_fails_even_when_its_port_answers(
    tmp_path: Path, held_port: int
) -> None:
    server = FakeServer(tmp_path, DIES)
    server.ports_free = lambda: None  # type: ignore[method-assign]  # pretend the check missed it
    with pytest.raises(InfraError, match=r"(?s)exited during start-up.*Address already in use"):
        server.up()


def test_a_server_that_answers_is_started(tmp_path: Path) -> None:
    listens = ("import socket, sys, time; s = socket.socket(); "
               f"s.bind(('127.0.0.1', {PORT})); s.listen(); time.sleep(60)")
    server = FakeServer(tmp_path, listens)
    try:
        assert server.up() is not None
        assert server.process.pid() is not None
    finally:
        server.down()


def test_clickhouse_names_the_setting_of_its_taken_port(tmp_path: Path, held_port: int) -> None:
    server = LocalClickHouse(home=tmp_path, tcp_port=held_port, http_port=held_port + 1)
    with pytest.raises(InfraError, match=rf"port {held_port} .*ABSTREAM_CLICKHOUSE_PORT"):
        server.up()
