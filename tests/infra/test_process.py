from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from infra.errors import InfraError
from infra.process import ManagedProcess, wait_until

SLEEPER = [sys.executable, "-c", "import time, sys; time.sleep(60)"]


def test_start_records_the_pid_and_stop_ends_the_process(tmp_path: Path) -> None:
    process = ManagedProcess("sleeper", tmp_path / "p.pid", marker="time.sleep(60)")
    pid = process.start(SLEEPER, tmp_path / "p.log")
    assert process.pid() == pid
    assert process.stop() is True
    assert process.pid() is None
    assert not (tmp_path / "p.pid").exists()
    assert not Path(f"/proc/{pid}").exists()


def test_a_stale_pid_file_is_not_mistaken_for_our_server(tmp_path: Path) -> None:
    process = ManagedProcess("server", tmp_path / "p.pid", marker="/no/such/config.xml")
    (tmp_path / "p.pid").write_text(f"{os.getpid()}\n")  # a live process that is not ours
    assert process.pid() is None
    assert process.stop() is False
    assert Path(f"/proc/{os.getpid()}").exists()


def test_wait_until_reports_a_dead_server_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "server.log"
    log.write_text("starting\nFATAL: port already in use\n")
    with pytest.raises(InfraError, match=r"(?s)exited during start-up.*port already in use"):
        wait_until(lambda: False, 5, "test server", alive=lambda: False, log_file=log)


def test_wait_until_times_out(tmp_path: Path) -> None:
    with pytest.raises(InfraError, match="not ready after 0 s"):
        wait_until(lambda: False, 0.3, "slow server")


def test_wait_until_returns_when_ready() -> None:
    calls = iter([False, False, True])
    assert wait_until(lambda: next(calls), 5, "server") >= 0
