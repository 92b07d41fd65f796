"""What every local server shares: a pid-tracked process, a config file, a readiness check."""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from pathlib import Path

from infra.errors import InfraError
from infra.process import ManagedProcess, wait_until


class LocalServer(ABC):
    """A server run from files under `home`; subclasses say how to prepare and probe it."""

    name: str
    start_timeout_s: float

    def __init__(self, home: Path, config_file_name: str, log_file_name: str) -> None:
        self.home = home / self.name
        self.config_file = self.home / config_file_name
        self.log_file = self.home / "logs" / log_file_name
        # The config path is unique to this stack, so it identifies our process.
        self.process = ManagedProcess(
            self.name, self.home / f"{self.name}.pid", marker=str(self.config_file)
        )

    @property
    @abstractmethod
    def address(self) -> str: ...

    @abstractmethod
    def install(self) -> None:
        """Make sure the server's binaries are present."""

    @abstractmethod
    def prepare(self) -> list[str]:
        """Write the config (and any first-start state); return the command to run."""

    @abstractmethod
    def answers(self) -> bool:
        """True when the server serves requests."""

    def up(self) -> float | None:
        """Start the server if it is not running; return seconds to ready, None if it ran."""
        if self.process.pid() is not None:
            return None
        started = time.monotonic()
        self.install()
        self.process.start(self.prepare(), self.home / "logs" / "stdout.log")
        try:
            wait_until(
                self.answers, self.start_timeout_s, f"{self.name} at {self.address}",
                alive=lambda: self.process.pid() is not None, log_file=self.log_file,
            )
        except InfraError:
            self.process.stop()
            raise
        return time.monotonic() - started

    def down(self) -> bool:
        return self.process.stop()
