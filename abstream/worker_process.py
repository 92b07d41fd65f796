"""abstream worker processes for the demo, benchmarks and tests: started, probed, stopped."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from pydantic import SecretStr

from abstream.admin_client import AdminClient, ApiError
from topology.settings import Settings

READY_TIMEOUT_S = 90.0


def settings_env(settings: Settings) -> dict[str, str]:
    """Every set value of `settings` as the ABSTREAM_* variables a worker process reads."""
    env = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            value = value.get_secret_value()
        if isinstance(value, bool):
            value = str(value).lower()
        env[f"ABSTREAM_{name.upper()}"] = str(value)
    return env


@dataclass
class WorkerProcess:
    port: int
    env: dict[str, str]
    log_file: Path
    process: subprocess.Popen | None = field(default=None, repr=False)
    loglevel: str = "warning"  # overrides ABSTREAM_LOG_LEVEL

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def client(self, token: str | None = None) -> AdminClient:
        return AdminClient(self.url, token, timeout=30)

    def start(self, until: str = "ready") -> None:
        """Start the process; return once its API answers /`until` (`ready`: the worker
        has joined the group and recovered its tables; `health`: the API is up)."""
        if _answers(self.port):  # another process would answer the readiness probe for us
            raise RuntimeError(f"port {self.port} is in use: stop what runs there or choose "
                               "another web port (ABSTREAM_WEB_PORT)")
        log = self.log_file.open("ab")
        self.process = subprocess.Popen(
            [sys.executable, "-m", "abstream.cli", "worker", "--port", str(self.port),
             "--loglevel", self.loglevel],
            env={**os.environ, **self.env}, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = time.monotonic() + READY_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"worker on {self.port} exited; see {self.log_file}")
            try:
                answer = self.client().get(f"/{until}")
                if until != "ready" or answer.get("ready"):
                    return
            except ApiError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"worker on {self.port} not ready in {READY_TIMEOUT_S:.0f} s")

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no commit, no flush."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


def _answers(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(1.0)
        return probe.connect_ex(("127.0.0.1", port)) == 0
