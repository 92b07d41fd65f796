"""The embedded backend: chDB runs ClickHouse inside this process, on a local directory.

chDB allows one open session per process, so open at most one `ChdbSink` at a time.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from chdb import session as chdb_session

from sinks.base import Params, Row, Sink
from sinks.errors import SinkError, store_failures
from sinks.sql import identifier, literal, render

INSERT_CHUNK_ROWS = 10_000


class ChdbSink(Sink):
    """``chdb:///absolute/path`` or ``chdb://relative/path``, with ``?database=name``."""

    def __init__(self, url: str) -> None:
        location, _, query = url.removeprefix("chdb://").partition("?")
        if not location:
            raise SinkError(f"{url}: a chdb URL needs a directory, e.g. chdb:///var/lib/abstream")
        self.url = url
        self.path = Path(location)
        self.database = identifier(parse_qs(query).get("database", ["default"])[0])
        # chDB raises plain RuntimeErrors of several kinds.
        with store_failures(url, (Exception,), "cannot open chDB: "):
            self.path.mkdir(parents=True, exist_ok=True)
            self._session = chdb_session.Session(str(self.path))

    def command(self, sql: str, params: Params | None = None) -> None:
        self._run(render(sql, params), "CSV")

    def query(self, sql: str, params: Params | None = None) -> list[Row]:
        # 64-bit integers as JSON numbers, not strings: Python ints keep them exact.
        text = self._run(render(sql, params), "JSONCompact", quote_64bit=False)
        if not text.strip():
            return []
        payload = json.loads(text)
        converters = [_converter(column["type"]) for column in payload["meta"]]
        return [
            tuple(convert(value) for convert, value in zip(converters, row, strict=True))
            for row in payload["data"]
        ]

    def insert(self, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> int:
        names = ", ".join(identifier(column) for column in columns)
        head = f"INSERT INTO {self.database}.{identifier(table)} ({names}) VALUES "
        for start in range(0, len(rows), INSERT_CHUNK_ROWS):
            chunk = rows[start : start + INSERT_CHUNK_ROWS]
            values = ", ".join("(" + ", ".join(map(literal, row)) + ")" for row in chunk)
            self._run(head + values, "CSV")
        return len(rows)

    def close(self) -> None:
        self._session.close()

    def _run(self, sql: str, fmt: str, quote_64bit: bool = True) -> str:
        if not quote_64bit:
            sql = f"{sql.rstrip().rstrip(';')} SETTINGS output_format_json_quote_64bit_integers=0"
        with store_failures(self.url, (Exception,)):  # chDB: every error is a plain one
            return self._session.query(sql, fmt).bytes().decode()


def _converter(column_type: str) -> Callable[[Any], Any]:
    """Turn a JSON value back into the Python value clickhouse-driver would return."""
    nullable = column_type.startswith("Nullable(")
    inner = column_type[len("Nullable(") : -1] if nullable else column_type
    if inner.startswith("DateTime"):
        parse = datetime.fromisoformat
    elif inner == "Date":
        parse = date.fromisoformat
    elif inner.startswith(("Int", "UInt")):
        parse = int
    elif inner.startswith("Float"):
        parse = float
    else:
        return lambda value: value
    return lambda value: None if value is None else parse(value)
