"""An in-process config log for unit tests: the admin and the fold without a broker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from aiokafka.errors import KafkaConnectionError, MessageSizeTooLargeError

from agents.config_service import ConfigService
from agents.experiment_admin import ExperimentAdmin
from topology.topics import TopicNames

BROKER_MAX_BYTES = 1_048_588  # Kafka's default message.max.bytes


class FakeProducer:
    """Appends to per-topic lists and folds at once, as a broker and the tail would."""

    def __init__(self, service: ConfigService) -> None:
        self.service = service
        self.messages: dict[str, list[Any]] = {}
        self.failing: set[str] = set()  # topics whose writes fail as if the broker were down

    async def send_and_wait(self, topic: str, value: bytes | None, key: bytes | None = None
                            ) -> Any:
        if topic in self.failing:
            raise KafkaConnectionError("the broker is unreachable")
        if value is not None and len(value) > BROKER_MAX_BYTES:
            raise MessageSizeTooLargeError(f"{len(value)} bytes")
        log = self.messages.setdefault(topic, [])
        message = SimpleNamespace(key=key, value=value, offset=len(log))
        log.append(message)
        self.service._fold(topic, message)
        return message

    def count(self, topic: str) -> int:
        return len(self.messages.get(topic, []))


def in_process_admin(max_record_bytes: int | None = None) -> tuple[ExperimentAdmin, FakeProducer]:
    extra = {} if max_record_bytes is None else {"max_record_bytes": max_record_bytes}
    service = ConfigService("in-process", TopicNames("unit"), **extra)
    producer = FakeProducer(service)
    service._producer = producer  # type: ignore[assignment]
    service.ready.set()
    return ExperimentAdmin(service), producer
