from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar

import fastavro
import pytest

from schemas import (
    ConfluentRegistry,
    LocalRegistry,
    SchemaError,
    decode,
    encode,
    load_schema,
)
from schemas.registry import Registry, schema_text

EXAMPLES: dict[str, dict[str, Any]] = {
    "exposure": {
        "event_id": "e-1", "user_id": "ü-42", "experiment": "checkout", "variant": "green",
        "phase": 3, "config_version": 12, "timestamp": 1_795_000_000_000,
        "received_at": 1_795_000_000_250, "attributes": {"platform": "ios"},
        "source": "sdk", "override": False,
    },
    "goal_event": {
        "event_id": "g-1", "user_id": "u-1", "name": "purchase", "value": 19.99,
        "timestamp": 1_795_000_000_000, "received_at": 1_795_000_000_100, "attributes": {},
    },
    "config_record": {
        "kind": "experiment", "key": "checkout", "version": 4, "actor": "alice",
        "time": 1_795_000_000_000, "reason": "ramp", "definition": '{"key": "checkout"}',
    },
    "audit_record": {
        "change_id": "c1", "kind": "experiment", "key": "checkout", "action": "update",
        "actor": "alice", "time": 1_795_000_000_000, "reason": "", "version_before": 3,
        "version_after": 4, "before": None, "after": "{}", "diff": "{}", "summary": "{}",
    },
    "srm_alert": {
        "alert_id": "a1", "experiment": "checkout", "phase": 2, "test": "chi-square",
        "observed": {"blue": 4500, "green": 5500}, "expected_share": {"blue": 0.5, "green": 0.5},
        "p_value": 1e-23, "statistic": 100.0, "detected_at": 1_795_000_000_000,
    },
    "guardrail_alert": {
        "alert_id": "checkout/2/errors/green", "experiment": "checkout", "phase": 2,
        "metric": "errors", "variant": "green", "relative": True, "higher_is_better": False,
        "margin": 0.02, "estimate": 0.11, "bound": 0.16, "harm_bound": 0.05,
        "control_n": 4000, "treatment_n": 4100, "action": "pause",
        "detected_at": 1_795_000_000_000,
    },
    "fact": {
        "experiment": "checkout", "phase": 1, "variant": "green", "user_id": "u-1",
        "first_exposure": 1_795_000_000_000, "attributes": {"platform": "web"},
        "values": {"bought": 1.0, "aov:num": 30.0, "aov:den": 1.0},
        "covariates": {"bought": 0.0}, "multiple_exposures": False, "version": 9,
    },
    "dead_letter": {
        "topic": "abstream.events", "key": b"u-1", "payload": b"\xff\x00not json",
        "error": "not JSON", "received_at": 1_795_000_000_000, "source": "http:/events",
    },
}
EXAMPLES["exposure_batch"] = {"events": [EXAMPLES["exposure"], {**EXAMPLES["exposure"],
                                                                   "event_id": "e-2"}]}
EXAMPLES["goal_batch"] = {"events": [EXAMPLES["goal_event"]]}
EXAMPLES["fact_batch"] = {"facts": [EXAMPLES["fact"], {**EXAMPLES["fact"], "version": 10}]}


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_every_schema_round_trips(name: str) -> None:
    assert decode(name, encode(name, EXAMPLES[name])) == EXAMPLES[name]


def test_every_registered_schema_exists_and_has_an_example() -> None:
    names = {name for _, name, _ in LocalRegistry().versions()}
    assert names == set(EXAMPLES)


def test_the_wire_format_is_confluents() -> None:
    payload = encode("goal_event", EXAMPLES["goal_event"])
    assert payload[0] == 0
    assert int.from_bytes(payload[1:5], "big") == LocalRegistry().writer_id("goal_event") == 2
    body = fastavro.schemaless_reader(io.BytesIO(payload[5:]),
                                      load_schema("goal_event"), None)
    assert body == EXAMPLES["goal_event"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [(b"", "too short"), (b"\x01\x00\x00\x00\x01abc", "magic byte 1"),
     (b"\x00\x00\x00\x03\xe7abc", "unknown schema id 999"),
     (b"\x00\x00\x00\x00\x01\xff\xff\xff", "cannot decode")],
)
def test_bad_bytes_raise_schema_error(payload: bytes, reason: str) -> None:
    with pytest.raises(SchemaError, match=reason):
        decode("exposure", payload)


def test_invalid_records_are_refused_naming_the_field() -> None:
    bad = {**EXAMPLES["exposure"], "timestamp": "yesterday"}
    with pytest.raises(SchemaError, match="timestamp"):
        encode("exposure", bad)
    missing = {k: v for k, v in EXAMPLES["exposure"].items() if k != "variant"}
    with pytest.raises(SchemaError, match="variant"):
        encode("exposure", missing)


def test_trailing_bytes_are_an_error() -> None:
    with pytest.raises(SchemaError, match="trailing"):
        decode("exposure", encode("exposure", EXAMPLES["exposure"]) + b"\x00")


class OlderExposureRegistry(Registry):
    """The registry as it looked when exposures had no source and no override flag."""

    OLD_ID = 100

    def __init__(self) -> None:
        schema = json.loads(schema_text("exposure"))
        schema["fields"] = [f for f in schema["fields"] if f["name"] not in ("source", "override")]
        self.old = fastavro.parse_schema(schema)

    def writer_id(self, name: str) -> int:
        return self.OLD_ID

    def schema(self, schema_id: int) -> dict[str, Any]:
        return self.old if schema_id == self.OLD_ID else LocalRegistry().schema(schema_id)


def test_a_newer_reader_reads_older_data() -> None:
    older = OlderExposureRegistry()
    record = {k: v for k, v in EXAMPLES["exposure"].items() if k not in ("source", "override")}
    buffer = io.BytesIO()
    buffer.write(b"\x00" + OlderExposureRegistry.OLD_ID.to_bytes(4, "big"))
    fastavro.schemaless_writer(buffer, older.old, record)
    decoded = decode("exposure", buffer.getvalue(), older)
    assert decoded == {**record, "source": "", "override": False}  # the defaults fill in


def test_every_registered_version_is_readable_by_the_current_schema() -> None:
    registry = LocalRegistry()
    for schema_id, name, _ in registry.versions():
        writer = registry.schema(schema_id)
        # Resolution fails at parse time for incompatible schemas; a default-filled record
        # written with the old schema must read back with the new one.
        example = {k: v for k, v in EXAMPLES[name].items()
                   if k in {f["name"] for f in writer["fields"]}}
        buffer = io.BytesIO()
        fastavro.schemaless_writer(buffer, writer, example)
        buffer.seek(0)
        read = fastavro.schemaless_reader(buffer, writer, load_schema(name))
        assert {k: read[k] for k in example} == example
        assert set(read) == {f["name"] for f in load_schema(name)["fields"]}


class _FakeRegistryServer(BaseHTTPRequestHandler):
    """Just the two calls of the Schema Registry REST API that abstream makes."""

    schemas: ClassVar[list[str]] = []

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if body["schema"] not in self.schemas:
            self.schemas.append(body["schema"])
        self._reply({"id": 40 + self.schemas.index(body["schema"])})

    def do_GET(self) -> None:
        index = int(self.path.rsplit("/", 1)[1]) - 40
        if not 0 <= index < len(self.schemas):
            self.send_error(404)
            return
        self._reply({"schema": self.schemas[index]})

    def _reply(self, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def registry_url() -> Iterator[str]:
    # No Schema Registry can run on this project's machines; this stand-in speaks its REST API.
    server = HTTPServer(("127.0.0.1", 0), _FakeRegistryServer)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()


def test_ids_come_from_a_schema_registry_when_one_is_configured(registry_url: str) -> None:
    registry = ConfluentRegistry(registry_url)
    payload = encode("exposure", EXAMPLES["exposure"], registry)
    assert int.from_bytes(payload[1:5], "big") == 40
    assert decode("exposure", payload, ConfluentRegistry(registry_url)) == EXAMPLES["exposure"]
    with pytest.raises(SchemaError, match="schema registry"):
        decode("exposure", b"\x00\x00\x00\x00\x07", ConfluentRegistry(registry_url))


@pytest.mark.parametrize(("batch", "event"), [("exposure_batch", "exposure"),
                                              ("goal_batch", "goal_event"),
                                              ("fact_batch", "fact")])
def test_a_batch_schema_holds_the_current_event_schema(batch: str, event: str) -> None:
    (events,) = json.loads(schema_text(batch))["fields"]
    assert events["type"]["items"] == json.loads(schema_text(event))
