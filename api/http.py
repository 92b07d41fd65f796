"""What every view shares: JSON errors, a body read with limits, JSON parsed safely.

Errors are ``{"error": message, "details": [...]}`` with the matching status:
400 bad request, 401 no or wrong token, 403 not allowed, 404 unknown, 408 body
too slow, 409 stale version or conflicting state, 413 too large, 415 not JSON,
422 invalid (every reason listed), 428 missing If-Match, 503 not ready or a
dependency down.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from multidict import MultiDict, MultiDictProxy

from agents.experiment_admin import AdminError
from errors import AbstreamError
from schemas.events import too_deep

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
MAX_DEPTH = 64  # past any valid document: targeting nests at most 32 conditions


@dataclass(frozen=True)
class BodyLimits:
    max_bytes: int
    timeout_s: float


BODY_LIMITS = web.AppKey("body_limits", BodyLimits)


class HttpError(AbstreamError):
    def __init__(self, status: int, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.details = status, details or []


def error_response(status: int, message: str, details: list[str] | None = None) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response({"error": message, "details": details or []}, status=status,
                             headers=headers)


@web.middleware
async def json_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure as a JSON error; anything unexpected is logged and is a 500."""
    try:
        return await handler(request)
    except (HttpError, AdminError) as exc:
        return error_response(exc.status, str(exc), exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, exc.reason)
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "internal error")


@web.middleware
async def read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Reads every body first, so no view ever waits on the socket.

    Runs after the access check, so nobody without the route's scope gets a body read.
    """
    if request.method in BODY_METHODS and request.body_exists:
        await (form_of(request) if is_console(request) else body_of(request))
    return await handler(request)


def is_console(request: web.Request) -> bool:
    """The console's pages take forms and sessions; the JSON API takes JSON and tokens."""
    return request.path == "/ui" or request.path.startswith("/ui/")


async def form_of(request: web.Request) -> MultiDictProxy[str]:
    """A console form: url-encoded, within the body limits, read once."""
    if request.content_type != "application/x-www-form-urlencoded":
        raise HttpError(415, "send the form as application/x-www-form-urlencoded, "
                             f"not {request.content_type or 'no content type'}")
    await _read_within_limits(request)
    try:
        form = await request.post()
    except (UnicodeDecodeError, LookupError):  # bytes or a charset the form cannot be read in
        raise HttpError(400, "the form is not valid UTF-8") from None
    return MultiDictProxy(MultiDict((k, v) for k, v in form.items() if isinstance(v, str)))


async def body_of(request: web.Request) -> bytes:
    """The body: JSON, arrived whole within the body timeout and within the size limit.

    aiohttp keeps what it read, so reading again costs nothing.
    """
    if request.content_type != "application/json":
        raise HttpError(415, f"send the body as application/json, "
                             f"not {request.content_type or 'no content type'}")
    if request.headers.get("Content-Encoding", "identity").lower() != "identity":
        # The server does not inflate bodies (a small one can inflate to gigabytes).
        raise HttpError(415, "send the body uncompressed (no Content-Encoding)")
    return await _read_within_limits(request)


async def _read_within_limits(request: web.Request) -> bytes:
    limits = request.app[BODY_LIMITS]
    try:
        return await asyncio.wait_for(request.read(), limits.timeout_s)
    except TimeoutError:
        raise HttpError(408, f"the body did not arrive within {limits.timeout_s:g} s") from None
    except web.HTTPRequestEntityTooLarge:
        raise HttpError(413, f"the body is larger than {limits.max_bytes} bytes") from None


def parse_json(raw: bytes | str, max_depth: int = MAX_DEPTH) -> Any:
    """The JSON value of `raw`; `ValueError` with the reason for anything else, including
    lists and objects nested more than `max_depth` deep."""
    too_deep_reason = f"nested more than {max_depth} levels deep"
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ValueError(too_deep_reason) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not JSON: {exc}") from None
    if too_deep(value, max_depth):
        raise ValueError(too_deep_reason)
    return value


async def read_json(request: web.Request) -> Any:
    """The body's JSON value, parsed once per request (an access rule may read it first)."""
    if "json_body" not in request:
        try:
            request["json_body"] = parse_json(await body_of(request))
        except ValueError as exc:
            raise HttpError(400, f"the body is {exc}") from None
    return request["json_body"]


def flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")
