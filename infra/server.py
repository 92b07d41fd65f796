"""What every local server shares: a pid-tracked process, a config file, a readiness check."""

from __future__ import annotations

import errno
import socket
import time
from abc import ABC, abstractmethod
from pathlib import Path

from infra.errors import InfraError
from infra.process import ManagedProcess, listening_ports, wait_until


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

    @property
    @abstractmethod
    def ports(self) -> dict[str, int]:
        """The ports the server listens on, by the setting that chooses each."""

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
        # Whatever answers on a taken port is not our server: never mistake it for ours.
        self.ports_free()
        self.install()
        self.process.start(self.prepare(), self.home / "logs" / "stdout.log")
        try:
            wait_until(
                self._answers_itself, self.start_timeout_s, f"{self.name} at {self.address}",
                alive=lambda: self.process.pid() is not None, log_file=self.log_file,
            )
        except InfraError:
            self.process.stop()
            raise
        return time.monotonic() - started

    def _answers_itself(self) -> bool:
        """The server answers, and the process we started is the one listening on its ports."""
        pid = self.process.pid()
        return (pid is not None and set(self.ports.values()) <= listening_ports(pid)
                and self.answers())

    def down(self) -> bool:
        return self.process.stop()

    def ports_free(self) -> None:
        """Raise InfraError naming the first of our ports another process listens on."""
        for setting, port in self.ports.items():
            if port_taken(port):
                raise InfraError(
                    f"{self.name}: port {port} on 127.0.0.1 is already in use by another "
                    f"process (see `ss -ltnp 'sport = :{port}'`); stop it or choose another "
                    f"port with {setting}")


def port_taken(port: int) -> bool:
    """True when something listens on 127.0.0.1:`port` (or on every address)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        # As the servers do: connections of a previous run in TIME_WAIT do not count.
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                return True
            raise
    return False
