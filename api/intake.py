"""Batch assignment lookups and event intake over HTTP.

- ``GET /assignments?user_id=U&country=US&...`` (attributes as query parameters) or
  ``POST /assignments {"user_id": U, "attributes": {...}, "activate": false}``: every
  served experiment's assignment in one answer; ``activate=true`` also logs the
  exposures of the experiments the user is enrolled in (once per user, experiment
  and phase per worker).
- ``POST /exposures`` and ``POST /events``: a JSON list of events, or an object
  with an ``events`` list. Valid events are produced, packed into one batch record
  per partition (`topology.packing`); invalid ones are answered by
  index and written to the dead-letter topic with the reason. The answer comes only
  after Kafka acknowledged everything, so a 2xx never loses an event; if Kafka
  fails the answer is 503 and the batch may be sent again (event ids make it harmless).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web
from aiokafka.errors import KafkaError

from agents import metrics
from api.http import HttpError, body_of, flag, parse_json, read_json
from experiments import Assignment, ConfigSnapshot, ExperimentClient, assign_all
from experiments.client import ExposureRecord
from experiments.exposures import exposure_event, unknown_reason
from schemas.events import (
    EventLimits,
    InvalidEvent,
    check_exposure,
    check_goal,
    valid_text,
)
from topology.producer import EventProducer, encode_dead_letters, encode_records
from topology.tokens import Scope

log = logging.getLogger(__name__)
MAX_DEAD_LETTER_BYTES = 512 * 1024
MAX_KEY_CHARS = 1024
SOURCE_ACTIVATION = "http:/assignments"
RESERVED_QUERY = frozenset({"user_id", "activate"})


@dataclass
class Ingestion:
    producer: EventProducer
    snapshot: Callable[[], ConfigSnapshot]
    activations: ExperimentClient  # remembers which exposures were already logged
    limits: EventLimits
    max_batch: int = 1000
    fragments: AssignmentFragments = field(default_factory=lambda: AssignmentFragments())


INGESTION = web.AppKey("ingestion", Ingestion)


async def assignment_scope(request: web.Request) -> Scope:
    """A lookup reads; an activation logs exposures, which needs the intake scope."""
    if request.method == "GET":
        return Scope.INTAKE if flag(request, "activate") else Scope.READ
    body = await read_json(request)
    return Scope.INTAKE if isinstance(body, dict) and body.get("activate") is True else Scope.READ


async def get_assignments(request: web.Request) -> web.Response:
    query = request.query
    attributes = {k: v for k, v in query.items() if k not in RESERVED_QUERY}
    return await _assignments(request.app[INGESTION], query.get("user_id"), attributes,
                              flag(request, "activate"))


async def post_assignments(request: web.Request) -> web.Response:
    body = await read_json(request)
    if not isinstance(body, dict):
        raise HttpError(422, "the body must be an object with user_id and attributes")
    attributes = body.get("attributes") or {}
    if not isinstance(attributes, dict):
        raise HttpError(422, "attributes: must be an object")
    if not isinstance(body.get("activate", False), bool):
        raise HttpError(422, "activate: must be true or false")
    return await _assignments(request.app[INGESTION], body.get("user_id"), attributes,
                              body.get("activate") is True)


async def lookup(ingestion: Ingestion, user_id: Any, attributes: dict[str, Any]) -> Any:
    """The answer of `GET /assignments` without activation, as the API sends it."""
    response = await _assignments(ingestion, user_id, attributes, activate=False)
    return json.loads(response.text or "{}")


async def _assignments(ingestion: Ingestion, user_id: Any, attributes: dict[str, Any],
                       activate: bool) -> web.Response:
    with metrics.ASSIGNMENT_SECONDS.time():
        return await _answer_assignments(ingestion, user_id, attributes, activate)


async def _answer_assignments(ingestion: Ingestion, user_id: Any, attributes: dict[str, Any],
                              activate: bool) -> web.Response:
    if not isinstance(user_id, str) or not user_id:
        raise HttpError(422, "user_id: a non-empty string is required")
    snapshot = ingestion.snapshot()
    valid = len(user_id) <= ingestion.limits.max_id_length and _valid_inputs(user_id, attributes)
    # Text that is not valid Unicode never reaches the hash: C code has crashed on it.
    result = assign_all(snapshot, user_id if valid else None, attributes)
    answer: dict[str, Any] = {"user_id": user_id if valid else _shown(user_id),
                              "config_version": snapshot.version}
    if not valid:
        answer["error"] = (f"user_id must be at most {ingestion.limits.max_id_length} characters, "
                           "and it and the attributes valid Unicode (no lone surrogates)")
    if activate:
        answer.update(await _activate(ingestion, user_id, result.values(), attributes))
    head = json.dumps(answer)[:-1]
    fragments = ingestion.fragments.of(snapshot)
    body = ",".join(fragments(key, a) for key, a in result.items())
    return web.Response(text=f'{head}, "assignments": {{{body}}}}}',
                        content_type="application/json")


def _valid_inputs(user_id: str, attributes: dict[str, Any]) -> bool:
    return valid_text(user_id) and all(
        valid_text(str(k)) and (not isinstance(v, str) or valid_text(v))
        for k, v in attributes.items())


async def _activate(ingestion: Ingestion, user_id: str, assignments: Iterable[Assignment],
                    attributes: dict[str, Any]) -> dict[str, Any]:
    """Log the exposures of enrolled assignments, checked like those of POST /exposures."""
    records = [record for a in assignments
               if (record := ingestion.activations.new_exposure(user_id, a, attributes))]
    exposures, refused, errors = [], [], []
    for record in records:
        event = _exposure(record, attributes)
        try:
            exposures.append(check_exposure(event, record.timestamp, ingestion.limits))
        except InvalidEvent as exc:
            ingestion.activations.forget(record)
            refused.append((_key_of(event), _raw(event), str(exc)))
            errors.append(str(exc))
    producer = ingestion.producer
    try:
        encoded = encode_records("exposure", exposures, checked=True)
        letters = encode_dead_letters(producer.topics.exposures, SOURCE_ACTIVATION, refused)
        await producer.send_packed(producer.topics.exposures, encoded)
        await producer.send_encoded(producer.topics.deadletter, letters)
    except KafkaError as exc:  # the page still gets its variants; a later call retries
        for record in records:
            ingestion.activations.forget(record)
        return {"exposure_error": f"exposures not logged: {exc}", "exposures_logged": 0}
    answer: dict[str, Any] = {"exposures_logged": len(exposures)}
    if errors:
        answer["exposure_error"] = f"exposures not logged: {'; '.join(errors)}"
    return answer


class AssignmentFragments:
    """The JSON of each possible assignment, written once per snapshot.

    A snapshot precomputes every answer it can give, so the JSON of those few
    objects can be cached too: a lookup then joins strings instead of encoding
    a hundred small objects.
    """

    def __init__(self) -> None:
        self._snapshot: ConfigSnapshot | None = None
        self._cache: dict[int, str] = {}

    def of(self, snapshot: ConfigSnapshot) -> Callable[[str, Assignment], str]:
        if snapshot is not self._snapshot:  # ids are only stable while it lives
            self._snapshot, self._cache = snapshot, {}
        cache = self._cache

        def fragment(key: str, a: Assignment) -> str:
            text = cache.get(id(a))
            if text is None:
                text = cache[id(a)] = json.dumps(key) + ": " + json.dumps({
                    "variant": a.variant, "phase": a.phase, "reason": a.reason.value,
                    "enrolled": a.enrolled, "config": a.config})
            return text

        return fragment


def _exposure(record: ExposureRecord, attributes: dict[str, Any]) -> dict[str, Any]:
    """The activation's exposure, with the request's own attributes for the check."""
    return exposure_event(
        event_id=record.event_id, user_id=record.user_id, experiment=record.experiment,
        variant=record.variant, phase=record.phase, config_version=record.config_version,
        timestamp=record.timestamp, attributes=attributes, source=SOURCE_ACTIVATION,
        override=record.override)


async def post_exposures(request: web.Request) -> web.Response:
    ingestion = request.app[INGESTION]
    return await _ingest(request, ingestion.producer.topics.exposures, "exposure",
                         partial(_known_exposure, ingestion.snapshot()))


async def post_events(request: web.Request) -> web.Response:
    ingestion = request.app[INGESTION]
    return await _ingest(request, ingestion.producer.topics.events, "goal_event", check_goal)


def _known_exposure(snapshot: ConfigSnapshot, raw: Any, received_at: int,
                    limits: EventLimits) -> dict[str, Any]:
    """A checked exposure that names an experiment, variant and phase of the config."""
    exposure = check_exposure(raw, received_at, limits)
    reason = unknown_reason(snapshot, exposure)
    if reason is not None:
        raise InvalidEvent(reason)
    return exposure


async def _ingest(
    request: web.Request, topic: str, schema: str, check: Callable
) -> web.Response:
    ingestion = request.app[INGESTION]
    source = f"http:{request.path}"
    received_at = int(time.time() * 1000)
    events = await _batch(request, ingestion, topic, source)
    valid, failures, rejected = [], [], []
    for index, event in enumerate(events):
        try:
            valid.append(check(event, received_at, ingestion.limits))
        except InvalidEvent as exc:
            rejected.append({"index": index, "error": str(exc)})
            failures.append((_key_of(event), _raw(event), str(exc)))
    producer = ingestion.producer
    # Everything is encoded before anything is sent: an error cannot leave half a batch.
    records = encode_records(schema, valid, checked=True)
    letters = encode_dead_letters(topic, source, failures)
    try:
        await producer.send_packed(topic, records)  # one batch record per partition
        await producer.send_encoded(producer.topics.deadletter, letters)
    except KafkaError as exc:
        log.warning("Kafka refused a batch for %s: %s", topic, exc)
        raise HttpError(503, f"Kafka is unavailable ({exc}); send the batch again") from None
    return web.json_response({"accepted": len(valid), "rejected": rejected})


async def _batch(request: web.Request, ingestion: Ingestion, topic: str,
                 source: str) -> list[Any]:
    """The events of a well-formed batch; anything else is dead-lettered and refused."""
    raw = await body_of(request)
    try:
        body = parse_json(raw, ingestion.limits.max_depth)
    except ValueError as exc:
        await _refuse_body(ingestion, topic, source, raw, str(exc))
        raise HttpError(400, f"the body is {exc}") from None
    events = body.get("events") if isinstance(body, dict) else body
    if not isinstance(events, list):
        await _refuse_body(ingestion, topic, source, raw, "not a list of events")
        raise HttpError(422, 'send a JSON list of events, or {"events": [...]}')
    if len(events) > ingestion.max_batch:
        await _refuse_body(ingestion, topic, source, raw, f"a batch of {len(events)} events")
        raise HttpError(413, f"{len(events)} events; send at most {ingestion.max_batch} a batch")
    return events


async def _refuse_body(ingestion: Ingestion, topic: str, source: str, raw: bytes,
                       reason: str) -> None:
    if len(raw) > MAX_DEAD_LETTER_BYTES:
        reason += f" (payload cut to {MAX_DEAD_LETTER_BYTES} of {len(raw)} bytes)"
        raw = raw[:MAX_DEAD_LETTER_BYTES]
    try:
        await ingestion.producer.send_dead_letters(topic, source, [(None, raw, reason)])
    except KafkaError as exc:
        raise HttpError(503, f"Kafka is unavailable ({exc})") from None


def _key_of(event: Any) -> bytes | None:
    """The dead letter's key: the user id as far as it is text, never more than a few KiB."""
    user = event.get("user_id") if isinstance(event, dict) else None
    if not isinstance(user, str):
        return None
    return user[:MAX_KEY_CHARS].encode("utf-8", "backslashreplace")


def _raw(event: Any) -> bytes:
    try:  # ASCII JSON: lone surrogates come out escaped, as they came in
        raw = json.dumps(event, default=str).encode()
    except (ValueError, RecursionError) as exc:
        raw = f"(not shown: {exc})".encode()
    return raw[:MAX_DEAD_LETTER_BYTES]


def _shown(text: str) -> str:
    return text[:MAX_KEY_CHARS].encode("utf-8", "backslashreplace").decode()
