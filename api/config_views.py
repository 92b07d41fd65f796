"""The worker's HTTP API for experiments and the config snapshot (JSON, aiohttp).

Errors are ``{"error": message, "details": [...]}`` with the matching status:
400 bad request, 401 no or wrong token, 403 not allowed, 404 unknown,
409 stale version or conflicting state, 422 invalid configuration (every reason
listed), 428 missing If-Match, 503 not caught up with the config log yet.
"""

from __future__ import annotations

import hmac
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.experiment_admin import AdminError, ExperimentAdmin
from agents.readiness import WorkerState, waiting_for
from schemas.events import too_deep
from topology.settings import Settings

log = logging.getLogger(__name__)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ADMIN = web.AppKey("admin", ExperimentAdmin)
TOKENS = web.AppKey("tokens", dict)
OPEN_READS = web.AppKey("open_reads", bool)
# (assigned, rebalancing, recovering) of the worker's Faust app; absent: no app to wait for.
StreamState = Callable[[], tuple[bool, bool, bool]]
STREAMS = web.AppKey("streams", object)
MAX_JSON_DEPTH = 64  # arrays and objects in a request body: configs nest conditions


def build_api(admin: ExperimentAdmin, settings: Settings,
              streams: StreamState | None = None) -> web.Application:
    app = web.Application(middlewares=[_errors], client_max_size=settings.max_body_bytes)
    app[ADMIN] = admin
    app[STREAMS] = streams
    app[TOKENS] = settings.token_actors
    app[OPEN_READS] = settings.api_open_reads
    app.add_routes([
        web.get("/health", health),
        web.get("/ready", ready),
        web.get("/metrics", prometheus_metrics),
        web.get("/config", served_config),
        web.get("/experiments", list_experiments),
        web.post("/experiments", create_experiment),
        web.get("/experiments/{key}", get_experiment),
        web.patch("/experiments/{key}", patch_experiment),
        web.delete("/experiments/{key}", delete_experiment),
        web.get("/experiments/{key}/history", history),
        web.get("/experiments/{key}/changes", pending_changes),
        web.post("/experiments/{key}/changes/{change}/approve", approve),
        web.post("/experiments/{key}/changes/{change}/reject", reject),
        web.put("/layers/{key}", put_layer),
        web.put("/holdout", put_holdout),
    ])
    return app


class HttpError(Exception):
    def __init__(self, status: int, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.status, self.details = status, details or []


@web.middleware
async def _errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except (AdminError, HttpError) as exc:
        return _error(exc.status, str(exc), exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return _error(exc.status, exc.reason)
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return _error(500, "internal error")


def _error(status: int, message: str, details: list[str] | None = None) -> web.Response:
    headers = {"WWW-Authenticate": "Bearer"} if status == 401 else None
    return web.json_response({"error": message, "details": details or []}, status=status,
                             headers=headers)


def _admin(request: web.Request, write: bool = False) -> tuple[ExperimentAdmin, str | None]:
    """The admin, and the caller's actor (required for writes, and for reads if closed)."""
    admin = request.app[ADMIN]
    if write and not admin.service.ready.is_set():
        raise HttpError(503, "not ready: still reading the config log")
    if not write and request.app[OPEN_READS]:
        return admin, None
    tokens = request.app[TOKENS]
    if not tokens:
        raise HttpError(403, "writes are disabled: set ABSTREAM_API_TOKENS on the worker")
    scheme, _, offered = request.headers.get("Authorization", "").partition(" ")
    actor = None
    for token, owner in tokens.items():  # compare with every token, in constant time each
        if hmac.compare_digest(offered.strip().encode(), token.encode()):
            actor = owner
    if scheme.lower() != "bearer" or actor is None:
        raise HttpError(401, "a valid bearer token is required")
    return admin, actor


async def read_json(request: web.Request, max_depth: int = MAX_JSON_DEPTH) -> Any:
    nested = HttpError(400, f"the body is nested more than {max_depth} levels deep")
    try:
        body = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise HttpError(400, f"the body is not valid JSON: {exc}") from None
    except RecursionError:  # json.loads ran out of stack
        raise nested from None
    if too_deep(body, max_depth):
        raise nested
    return body


def _if_match(request: web.Request) -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    try:
        return int(raw.removeprefix("W/").strip('"'))
    except ValueError:
        raise HttpError(400, f"If-Match must be an experiment version, not {raw!r}") from None


def _flag(request: web.Request, name: str) -> bool:
    return request.query.get(name, "").lower() in ("1", "true", "yes")


def _versioned(body: dict[str, Any], status: int = 200) -> web.Response:
    return web.json_response(body, status=status, headers={"ETag": f'"{body["version"]}"'})


async def health(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def prometheus_metrics(request: web.Request) -> web.Response:
    return web.Response(body=generate_latest(), headers={"Content-Type": CONTENT_TYPE_LATEST})


async def ready(request: web.Request) -> web.Response:
    """200 once the worker takes traffic; 503 with what it waits for until then."""
    service = request.app[ADMIN].service
    streams = request.app[STREAMS]
    assigned, rebalancing, recovering = streams() if streams else (True, False, False)
    reasons = waiting_for(WorkerState(config_read=service.ready.is_set(), assigned=assigned,
                                      rebalancing=rebalancing, recovering=recovering))
    if reasons:
        return web.json_response({"ready": False, "waiting_for": reasons}, status=503)
    return web.json_response({"ready": True, "config_version": service.state.offset})


async def served_config(request: web.Request) -> web.StreamResponse:
    admin, _ = _admin(request)
    etag = admin.state.snapshot().etag
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers={"ETag": etag})
    return web.json_response(admin.served_config(), headers={"ETag": etag})


async def list_experiments(request: web.Request) -> web.Response:
    admin, _ = _admin(request)
    return web.json_response({"experiments": admin.list_experiments()})


async def get_experiment(request: web.Request) -> web.Response:
    admin, _ = _admin(request)
    document, version = admin.get(request.match_info["key"])
    return _versioned({"experiment": document, "version": version,
                       "pending": admin.pending(request.match_info["key"])})


async def create_experiment(request: web.Request) -> web.Response:
    admin, actor = _admin(request, write=True)
    body = await admin.create(await read_json(request), actor, request.query.get("reason", ""),
                              dry_run=_flag(request, "dry_run"))
    return _versioned(body, status=200 if body.get("dry_run") else 201)


async def patch_experiment(request: web.Request) -> web.Response:
    admin, actor = _admin(request, write=True)
    status, body = await admin.update(
        request.match_info["key"], await read_json(request), _if_match(request), actor,
        request.query.get("reason", ""), dry_run=_flag(request, "dry_run"),
    )
    return _versioned(body) if status == 200 else web.json_response(body, status=status)


async def delete_experiment(request: web.Request) -> web.Response:
    admin, actor = _admin(request, write=True)
    await admin.delete(request.match_info["key"], _if_match(request), actor,
                       request.query.get("reason", ""))
    return web.Response(status=204)


async def history(request: web.Request) -> web.Response:
    admin, _ = _admin(request)
    key = request.match_info["key"]
    entries = admin.history(key)
    if not entries:
        admin.get(key)  # 404 for an experiment that never existed
    return web.json_response({"history": entries})


async def pending_changes(request: web.Request) -> web.Response:
    admin, _ = _admin(request)
    return web.json_response({"pending": admin.pending(request.match_info["key"])})


async def approve(request: web.Request) -> web.Response:
    return await _review(request, approve=True)


async def reject(request: web.Request) -> web.Response:
    return await _review(request, approve=False)


async def _review(request: web.Request, approve: bool) -> web.Response:
    admin, actor = _admin(request, write=True)
    body = await admin.review(request.match_info["key"], request.match_info["change"], actor,
                              approve, request.query.get("reason", ""))
    return web.json_response(body)


async def put_layer(request: web.Request) -> web.Response:
    admin, actor = _admin(request, write=True)
    key, definition = request.match_info["key"], await read_json(request)
    if not isinstance(definition, dict):
        raise HttpError(422, "the body must be a layer definition (a mapping)")
    body = await admin.put("layer", key, {**definition, "key": key}, _if_match(request), actor,
                           request.query.get("reason", ""))
    return _versioned(body)


async def put_holdout(request: web.Request) -> web.Response:
    admin, actor = _admin(request, write=True)
    body = await admin.put("holdout", "global", await read_json(request), _if_match(request), actor,
                           request.query.get("reason", ""))
    return _versioned(body)
