"""The views of experiments, layers, the holdout and the served config snapshot.

Access is checked before a view runs (`api.routes`); `AdminError`s become
responses with their status.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from agents.config_service import WriteFailed
from agents.experiment_admin import ExperimentAdmin
from agents.readiness import WorkerState, waiting_for
from api.access import actor_name
from api.http import HttpError, flag, read_json
from api.ramp_status import ramp_status
from api.results import RESULTS
from experiments.layer_map import layer_maps

ADMIN = web.AppKey("admin", ExperimentAdmin)
# (assigned, rebalancing, recovering) of the worker's Faust app; absent: no app to wait for.
StreamState = Callable[[], tuple[bool, bool, bool]]
STREAMS = web.AppKey("streams", object)


def _admin(request: web.Request) -> ExperimentAdmin:
    return request.app[ADMIN]


async def writer(request: web.Request) -> tuple[ExperimentAdmin, str]:
    """The admin and the acting actor, once the worker has read the whole config log."""
    admin = request.app[ADMIN]
    if not admin.service.ready.is_set():
        raise HttpError(503, "not ready: still reading the config log")
    try:
        await admin.service.catch_up()
    except WriteFailed as exc:
        raise HttpError(503, str(exc)) from None
    return admin, actor_name(request)


def _if_match(request: web.Request) -> int | None:
    raw = request.headers.get("If-Match")
    if raw is None:
        return None
    try:
        return int(raw.removeprefix("W/").strip('"'))
    except ValueError:
        raise HttpError(400, f"If-Match must be an experiment version, not {raw!r}") from None


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
    admin = _admin(request)
    etag = admin.state.snapshot().etag
    if etag in [tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")]:
        return web.Response(status=304, headers={"ETag": etag})
    return web.json_response(admin.served_config(), headers={"ETag": etag})


async def list_experiments(request: web.Request) -> web.Response:
    admin = _admin(request)
    return web.json_response({"experiments": admin.list_experiments()})


async def list_layers(request: web.Request) -> web.Response:
    """Every layer's slot map: which experiment owns which slots, and the free ones."""
    return web.json_response({"layers": layer_maps(_admin(request).state.snapshot().config)})


async def get_experiment(request: web.Request) -> web.Response:
    admin = _admin(request)
    document, version = admin.get(request.match_info["key"])
    body = {"experiment": document, "version": version,
            "pending": admin.pending(request.match_info["key"])}
    if RESULTS in request.app and (ramp := await ramp_status(request.app[RESULTS],
                                                             request.match_info["key"])):
        body["ramp"] = ramp
    return _versioned(body)


async def create_experiment(request: web.Request) -> web.Response:
    admin, actor = await writer(request)
    body = await admin.create(await read_json(request), actor, request.query.get("reason", ""),
                              dry_run=flag(request, "dry_run"))
    return _versioned(body, status=200 if body.get("dry_run") else 201)


async def patch_experiment(request: web.Request) -> web.Response:
    admin, actor = await writer(request)
    status, body = await admin.update(
        request.match_info["key"], await read_json(request), _if_match(request), actor,
        request.query.get("reason", ""), dry_run=flag(request, "dry_run"),
    )
    return _versioned(body) if status == 200 else web.json_response(body, status=status)


async def delete_experiment(request: web.Request) -> web.Response:
    admin, actor = await writer(request)
    await admin.delete(request.match_info["key"], _if_match(request), actor,
                       request.query.get("reason", ""))
    return web.Response(status=204)


async def history(request: web.Request) -> web.Response:
    admin = _admin(request)
    key = request.match_info["key"]
    entries = admin.history(key)
    if not entries:
        admin.get(key)  # 404 for an experiment that never existed
    return web.json_response({"history": entries})


async def pending_changes(request: web.Request) -> web.Response:
    admin = _admin(request)
    return web.json_response({"pending": admin.pending(request.match_info["key"])})


async def approve(request: web.Request) -> web.Response:
    return await _review(request, approve=True)


async def reject(request: web.Request) -> web.Response:
    return await _review(request, approve=False)


async def _review(request: web.Request, approve: bool) -> web.Response:
    admin, actor = await writer(request)
    body = await admin.review(request.match_info["key"], request.match_info["change"], actor,
                              approve, request.query.get("reason", ""))
    return web.json_response(body)


async def put_layer(request: web.Request) -> web.Response:
    admin, actor = await writer(request)
    status, body = await admin.put("layer", request.match_info["key"], await read_json(request),
                                   _if_match(request), actor, request.query.get("reason", ""),
                                   dry_run=flag(request, "dry_run"))
    return _versioned(body) if status == 200 else web.json_response(body, status=status)


async def put_holdout(request: web.Request) -> web.Response:
    admin, actor = await writer(request)
    status, body = await admin.put("holdout", "global", await read_json(request),
                                   _if_match(request), actor, request.query.get("reason", ""),
                                   dry_run=flag(request, "dry_run"))
    return _versioned(body) if status == 200 else web.json_response(body, status=status)
