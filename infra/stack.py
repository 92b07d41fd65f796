"""The local stack: which servers abstream runs itself and which it only checks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from infra.clickhouse import LocalClickHouse, select_one_answers
from infra.errors import InfraError
from infra.kafka import LocalKafka, metadata_answers
from infra.server import LocalServer
from topology.settings import Settings

SERVICES = ("kafka", "clickhouse")


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    address: str
    managed: bool  # started by `abstream infra up`, as opposed to an existing server
    pid: int | None
    answers: bool

    def describe(self) -> str:
        state = "up" if self.answers else "down"
        if self.managed:
            owner = f"local, pid {self.pid}" if self.pid else "local, not running"
        else:
            owner = "external"
        return f"{self.name:<11} {state:<5} {self.address:<24} ({owner})"


class Stack:
    """Kafka and ClickHouse as the settings describe them: local servers or existing ones."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.local: dict[str, LocalServer] = {}
        if settings.manages_kafka:
            self.local["kafka"] = LocalKafka(
                home=settings.home, libs_dir=settings.kafka_libs_dir,
                port=settings.kafka_port, controller_port=settings.kafka_controller_port,
                heap=settings.kafka_heap,
            )
        if settings.manages_clickhouse:
            self.local["clickhouse"] = LocalClickHouse(
                home=settings.home, tcp_port=settings.clickhouse_port,
                http_port=settings.clickhouse_http_port,
            )

    def install(self, services: Iterable[str] = SERVICES) -> None:
        for name in _checked(services):
            if name in self.local:
                self.local[name].install()

    def up(self, services: Iterable[str] = SERVICES) -> dict[str, float | None]:
        """Start what is not running; check external servers answer.

        Returns, per service, the seconds it took to become ready, or None when
        it was already running (or is external and answered).
        """
        waited: dict[str, float | None] = {}
        for name in _checked(services):
            if name in self.local:
                waited[name] = self.local[name].up()
            elif not self._answers(name):
                raise InfraError(f"{name} at {self._address(name)} does not answer")
            else:
                waited[name] = None
        return waited

    def down(self, services: Iterable[str] = SERVICES) -> list[str]:
        """Stop the local servers we started; returns the names of those that ran."""
        chosen = [name for name in _checked(services) if name in self.local]
        return [name for name in chosen if self.local[name].down()]

    def status(self) -> list[ServiceStatus]:
        return [
            ServiceStatus(
                name=name, address=self._address(name), managed=name in self.local,
                pid=self.local[name].process.pid() if name in self.local else None,
                answers=self._answers(name),
            )
            for name in SERVICES
        ]

    def _address(self, name: str) -> str:
        if name == "kafka":
            return self.settings.bootstrap_servers
        parts = urlsplit(self.settings.clickhouse_server_url)
        return f"{parts.hostname}:{parts.port or 9000}"

    def _answers(self, name: str) -> bool:
        if name == "kafka":
            return metadata_answers(self.settings.bootstrap_servers)
        return select_one_answers(self.settings.clickhouse_server_url)


def _checked(services: Iterable[str]) -> list[str]:
    chosen = list(services)
    unknown = [name for name in chosen if name not in SERVICES]
    if unknown:
        raise InfraError(f"unknown service {unknown[0]!r}; choose from {', '.join(SERVICES)}")
    return chosen
