"""Real local Kafka and ClickHouse servers for development, the demo and the tests."""

from infra.errors import InfraError
from infra.stack import SERVICES, Stack

__all__ = ["SERVICES", "InfraError", "Stack"]
