"""Where schema ids come from: the project's registry file, or a Confluent Schema Registry."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from abc import ABC, abstractmethod
from functools import cache
from importlib import resources
from typing import Any

import fastavro

from errors import AbstreamError


class SchemaError(AbstreamError):
    """A record does not fit its schema, or bytes are not a valid encoding."""


@cache
def schema_text(name: str, version: int | None = None) -> str:
    """The text of `schemas/NAME.avsc`, or of an older `schemas/versions/NAME.vN.avsc`."""
    folder = resources.files("schemas")
    source = folder.joinpath(f"{name}.avsc") if version is None else (
        folder.joinpath("versions").joinpath(f"{name}.v{version}.avsc"))
    if not source.is_file():
        raise SchemaError(f"no schema named {name!r}" + (f" v{version}" if version else ""))
    return source.read_text(encoding="utf-8")


@cache
def load_schema(name: str) -> dict[str, Any]:
    """The current (reader) schema of `name`, parsed."""
    return fastavro.parse_schema(json.loads(schema_text(name)))


class Registry(ABC):
    @abstractmethod
    def writer_id(self, name: str) -> int:
        """The id to frame records written with the current schema of `name`."""

    @abstractmethod
    def schema(self, schema_id: int) -> dict[str, Any]:
        """The parsed schema data framed with `schema_id` was written with."""


class LocalRegistry(Registry):
    """Ids from `schemas/registry.json`; every version ever released stays in the package."""

    def __init__(self) -> None:
        entries = json.loads(resources.files("schemas").joinpath("registry.json").read_text())
        latest: dict[str, dict[str, int]] = {}
        self._by_id: dict[int, tuple[str, int]] = {}
        for entry in entries["schemas"]:
            self._by_id[entry["id"]] = (entry["name"], entry["version"])
            if entry["version"] >= latest.get(entry["name"], {}).get("version", 0):
                latest[entry["name"]] = entry
        self._latest = {name: entry["id"] for name, entry in latest.items()}
        self._latest_version = {name: entry["version"] for name, entry in latest.items()}

    def writer_id(self, name: str) -> int:
        if name not in self._latest:
            raise SchemaError(f"no schema named {name!r} in the registry file")
        return self._latest[name]

    @cache  # noqa: B019 - a handful of ids, for the life of the process
    def schema(self, schema_id: int) -> dict[str, Any]:
        if schema_id not in self._by_id:
            raise SchemaError(f"unknown schema id {schema_id}")
        name, version = self._by_id[schema_id]
        if version == self._latest_version[name]:
            return load_schema(name)
        return fastavro.parse_schema(json.loads(schema_text(name, version)))

    def versions(self) -> list[tuple[int, str, int]]:
        """(id, name, version) of every registered schema."""
        return [(schema_id, name, version) for schema_id, (name, version) in self._by_id.items()]


class ConfluentRegistry(Registry):
    """A Confluent-compatible Schema Registry over HTTP; subjects are record full names."""

    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._ids: dict[str, int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def writer_id(self, name: str) -> int:
        with self._lock:
            if name not in self._ids:
                schema = json.loads(schema_text(name))
                subject = f"{schema['namespace']}.{schema['name']}"
                answer = self._call("POST", f"/subjects/{subject}/versions",
                                    {"schema": json.dumps(schema)})
                self._ids[name] = answer["id"]
            return self._ids[name]

    def schema(self, schema_id: int) -> dict[str, Any]:
        with self._lock:
            if schema_id not in self._schemas:
                answer = self._call("GET", f"/schemas/ids/{schema_id}")
                self._schemas[schema_id] = fastavro.parse_schema(json.loads(answer["schema"]))
            return self._schemas[schema_id]

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.url + path, data, {"Content-Type": "application/vnd.schemaregistry.v1+json"},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                return json.loads(response.read())
        except (urllib.error.URLError, ValueError) as exc:
            raise SchemaError(f"schema registry {self.url}{path}: {exc}") from None
