"""A small synchronous client for the worker's experiment API (used by the CLI)."""

from __future__ import annotations

import json
import unicodedata
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from typing import Any

from errors import AbstreamError

_NAMED_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: Any) -> str:
    """`text` with every control, format or unassigned character (Unicode category C)
    escaped, so that what a server sends cannot move the cursor, clear or fake lines.
    """
    return "".join(_escaped(c) if unicodedata.category(c)[0] == "C" else c for c in str(text))


def _escaped(char: str) -> str:
    code = ord(char)
    if char in _NAMED_ESCAPES:
        return _NAMED_ESCAPES[char]
    return f"\\x{code:02x}" if code < 0x100 else (
        f"\\u{code:04x}" if code < 0x10000 else f"\\U{code:08x}")


class ApiError(AbstreamError):
    def __init__(self, status: int, message: str, details: list[str]) -> None:
        self.status, self.details = status, details
        lines = "".join(f"\n  - {printable(detail)}" for detail in details)
        super().__init__(f"HTTP {status}: {printable(message)}{lines}")


class WorkerUnreachable(ApiError):
    """No worker answered: say how to start one or point the command at one."""

    def __init__(self, url: str, reason: object) -> None:
        super().__init__(0, "", [])
        self.args = (f"no abstream worker answers at {url} ({reason}). Start one with "
                     "`abstream worker`, or point the command at a running one with "
                     "ABSTREAM_API_URL.",)


@dataclass
class AdminClient:
    base_url: str
    token: str | None = None
    timeout: float = 30.0

    def request(self, method: str, path: str, body: Any = None, version: int | None = None,
                **query: Any) -> tuple[int, Any]:
        params = {k: str(v).lower() if isinstance(v, bool) else v
                  for k, v in query.items() if v not in (None, False, "")}
        url = self.base_url.rstrip("/") + path + (f"?{urllib.parse.urlencode(params)}"
                                                   if params else "")
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        if version is not None:
            headers["If-Match"] = f'"{version}"'
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(url, data, headers, method=method)
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                raw = response.read()
                return response.status, json.loads(raw) if raw else None
        except urllib.error.HTTPError as exc:
            payload = _json_or_none(exc.read())
            payload = payload if isinstance(payload, dict) else {}
            raise ApiError(exc.code, payload.get("error", exc.reason),
                           payload.get("details", [])) from None
        except urllib.error.URLError as exc:
            raise WorkerUnreachable(self.base_url, exc.reason) from None

    def get(self, path: str, **query: Any) -> Any:
        return self.request("GET", path, **query)[1]


def _json_or_none(raw: bytes) -> Any:
    try:
        return json.loads(raw)
    except ValueError:
        return None
