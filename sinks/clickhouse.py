"""The ClickHouse server backend, over the native protocol (clickhouse-driver)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from clickhouse_driver import Client
from clickhouse_driver.errors import Error as DriverError

from sinks.base import Params, Row, Sink
from sinks.errors import store_failures
from sinks.sql import identifier

# What the driver raises when the server is unreachable, hangs, or answers nonsense.
DRIVER_FAILURES = (DriverError, OSError, EOFError, ValueError)


class ClickHouseSink(Sink):
    """``clickhouse://[user[:password]@]host[:port]/database``"""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        options = parse_qs(parts.query)
        self.url = url
        self.database = identifier(parts.path.strip("/") or "default")
        with store_failures(url, (ValueError,), "invalid URL: "):
            # Short, bounded waits: a hung call holds the store and delays the worker's stop.
            self._client = Client(
                host=parts.hostname or "127.0.0.1",
                port=parts.port or 9000,
                user=unquote(parts.username or "default"),
                password=unquote(parts.password or ""),
                connect_timeout=float(options.get("connect_timeout", ["3"])[0]),
                send_receive_timeout=float(options.get("timeout", ["30"])[0]),
            )

    def command(self, sql: str, params: Params | None = None) -> None:
        self._run(sql, params)

    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        return [tuple(row) for row in self._run(sql, params)]

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        if not rows:
            return 0
        names = ", ".join(identifier(column) for column in columns)
        sql = f"INSERT INTO {self.database}.{identifier(table)} ({names}) VALUES"
        self._run(sql, [tuple(row) for row in rows])
        return len(rows)

    def close(self) -> None:
        self._client.disconnect()

    def _run(self, sql: str, params: Any) -> Any:
        with store_failures(self.url, DRIVER_FAILURES):
            return self._client.execute(sql, params)
