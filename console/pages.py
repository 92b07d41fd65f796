"""The console's reading pages. Each shows the objects of its JSON API twin, unchanged:

    /ui/                     GET /experiments + GET /experiments/{key}/results of each
    /ui/experiments/{key}    GET /experiments/{key}, …/results, …/timeline, …/power,
                             …/history, GET /layers
    /ui/layers               GET /layers
    /ui/operations           GET /operations
    /ui/qa                   GET /assignments
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from api.config_views import ADMIN
from api.http import HttpError
from api.intake import INGESTION, RESERVED_QUERY, lookup
from api.operations import operations_of
from api.ramp_status import ramp_status
from api.results import RESULTS, target_of
from console import charts
from console.app import page
from console.forms import ACTIONS, ALLOWED
from experiments.layer_map import layer_maps

BAR_WIDTH = 800
CHANGE_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


async def experiments_page(request: web.Request) -> web.Response:
    admin, results = request.app[ADMIN], request.app[RESULTS]
    query = request.query
    status, layer, search = query.get("status", ""), query.get("layer", ""), query.get("q", "")
    listed = admin.list_experiments()
    shown = [e for e in listed
             if (not status or e["status"] == status) and (not layer or e["layer"] == layer)
             and (not search or search.lower() in f"{e['key']} {e['description'] or ''}".lower())]
    rows = []
    for brief in shown:
        document, _ = admin.get(brief["key"])
        rows.append({**brief, "variants": document.get("variants", []),
                     "phase": (document.get("phases") or [{"number": 1}])[-1]["number"],
                     **await _summary(results, brief)})
    layers = sorted({e["layer"] for e in listed if e["layer"]})
    return page("experiments.html", request, rows=rows, layers=layers, status=status,
                layer=layer, q=search, statuses=list(ALLOWED))


async def _summary(results: Any, brief: dict[str, Any]) -> dict[str, Any]:
    """Exposures, SRM, significant metrics and freshness, as the results API reports them."""
    if brief["status"] == "draft":
        return {"report": None, "unavailable": None}
    try:
        report = await results.of(brief["key"], None)
    except web.HTTPException as exc:
        return {"report": None, "unavailable": exc.reason}
    overall = report["slices"][0] if report["slices"] else None
    return {"report": report, "overall": overall, "unavailable": None}


async def experiment_page(request: web.Request) -> web.Response:
    admin, results = request.app[ADMIN], request.app[RESULTS]
    key = request.match_info["key"]
    document, version = admin.get(key)
    dimension = request.query.get("dimension") or None
    bucket = request.query.get("bucket", "hour")
    cuped = request.query.get("cuped", "true").lower() != "false"
    sections: dict[str, Any] = {"report": None, "timeline": None, "power": None,
                                "unavailable": None, "problems": []}
    if document["status"] != "draft":
        questions = {"report": lambda: results.of(key, dimension, cuped=cuped),
                     "timeline": lambda: results.timeline(key, bucket)}
        if dimension is None:  # power is planned on all users
            questions["power"] = lambda: results.power(key, target_of(request))
        for name, ask in questions.items():
            try:
                sections[name] = await ask()
            except web.HTTPServiceUnavailable as exc:
                sections["unavailable"] = exc.reason
                break
            except web.HTTPBadRequest as exc:  # one bad parameter costs its section only
                sections["problems"].append(exc.reason)
    variants = [v["key"] for v in document["variants"]]
    allocation = charts.bucket_bars([(v, document.get("ranges", {}).get(v, []))
                                     for v in variants], BAR_WIDTH)
    layer = next((m for m in layer_maps(admin.state.snapshot().config)
                  if m["key"] == document.get("layer")), None)
    return page(
        "experiment.html", request, e=document, version=version, key=key,
        pending=admin.pending(key), history=list(reversed(admin.history(key))),
        allowed=[(a, ACTIONS[a]) for a in ALLOWED[document["status"]]],
        allocation=allocation, layer=layer, layer_bars=_layer_bars(layer), bar_width=BAR_WIDTH,
        dimension=dimension or "", bucket=bucket, forest=_forest(sections["report"]),
        over_time=_over_time(sections["timeline"], variants),
        flash=_flash(request), ramp=await ramp_status(results, key), **sections)


def _forest(report: dict[str, Any] | None) -> charts.Forest | None:
    if not report or not report["slices"]:
        return None
    comparisons = [c for c in report["slices"][0]["comparisons"] if "error" not in c]
    return charts.forest(comparisons, left=220, width=520) if comparisons else None


def _over_time(timeline: dict[str, Any] | None, variants: list[str]) -> dict[str, Any] | None:
    if not timeline or not timeline["points"]:
        return None
    points = timeline["points"]
    labels = [p["until"][5:16].replace("T", " ") for p in points]
    exposures = charts.line_chart(
        labels, {v: [p["exposures"].get(v, 0) for p in points] for v in variants}, None,
        (60, 10, 680, 180))
    lifts = {}
    for c in points[-1]["comparisons"]:
        name = f"{c['metric']} · {c['variant']}"
        series = [next((x for x in p["comparisons"] if x["metric"] == c["metric"]
                        and x["variant"] == c["variant"]), {}) for p in points]
        lifts[name] = charts.line_chart(
            labels, {name: [s.get("lift") for s in series]},
            {name: [tuple(s.get("lift_ci_always_valid") or (None, None)) for s in series]},
            (60, 10, 680, 140), percent=True)
    return {"exposures": exposures, "lifts": lifts}


def _layer_bars(layer: dict[str, Any] | None) -> list[charts.Bar]:
    if layer is None:
        return []
    owners: dict[str, list[list[int]]] = {}
    for slot in layer["slots"]:
        owners.setdefault(slot["experiment"], []).append(slot["slots"])
    return charts.bucket_bars([*owners.items(), ("", layer["free"])], BAR_WIDTH,
                              free_fill="#e8e8e8")


def _flash(request: web.Request) -> str | None:
    """What the last write did; only versions and change ids, so no link can put words
    on the page."""
    query = request.query
    if query.get("applied", "").isdigit():
        return f"Applied: now at version {query['applied']}."
    change = query.get("pending") or query.get("reviewed") or ""
    if not CHANGE_ID.fullmatch(change):
        return None
    if "pending" in query:
        return f"Proposed: change {change} waits for a reviewer's approval."
    if query.get("outcome") == "approved":
        return f"Change {change} approved and applied."
    return f"Change {change} rejected." if query.get("outcome") == "rejected" else None


async def layers_page(request: web.Request) -> web.Response:
    maps = layer_maps(request.app[ADMIN].state.snapshot().config)
    return page("layers.html", request, layers=[(m, _layer_bars(m)) for m in maps],
                bar_width=BAR_WIDTH)


async def operations_page(request: web.Request) -> web.Response:
    try:
        operations, unavailable = await operations_of(request.app[RESULTS]), None
    except web.HTTPServiceUnavailable as exc:
        operations, unavailable = None, exc.reason
    return page("operations.html", request, ops=operations, unavailable=unavailable,
                refresh=10)


async def qa_page(request: web.Request) -> web.Response:
    """What a user gets: the answer of GET /assignments for the same query."""
    query = request.query
    user_id = query.get("user_id", "")
    attributes = {k: v for k, v in query.items() if k not in RESERVED_QUERY
                  and not k.startswith("attr_")}
    for name, value in zip(query.getall("attr_name", []), query.getall("attr_value", []),
                           strict=False):
        if name.strip():
            attributes[name.strip()] = value
    answer, problem = None, None
    if user_id:
        try:
            answer = await lookup(request.app[INGESTION], user_id, attributes)
        except HttpError as exc:
            problem = str(exc)
    rows = list(attributes.items()) + [("", "")] * 3
    return page("qa.html", request, user_id=user_id, attributes=rows, answer=answer,
                problem=problem)
