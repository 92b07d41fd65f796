"""The interface every results store implements; backends only move SQL and rows.

SQL is written once, in ClickHouse 18.16's dialect, with ``%(name)s`` parameters,
and runs unchanged on every backend.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import Any

Row = tuple[Any, ...]
Params = Mapping[str, Any]


class Sink(ABC):
    """A ClickHouse database: statements, queries and batched inserts."""

    url: str
    database: str

    @abstractmethod
    def command(self, sql: str, params: Params | None = None) -> None:
        """Run a statement that returns no rows (DDL, ALTER, ...)."""

    @abstractmethod
    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        """Run a SELECT; rows come back as tuples of Python values."""

    @abstractmethod
    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        """Insert rows into `table` of this sink's database; returns the row count."""

    @abstractmethod
    def close(self) -> None:
        """Release the connection; the sink cannot be used afterwards."""

    def ensure_database(self) -> None:
        self.command(f"CREATE DATABASE IF NOT EXISTS {self.database}")

    def __enter__(self) -> Sink:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
