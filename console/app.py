"""What every console page shares: templates, security headers, HTML errors, context.

Templates escape every value (autoescape); the Content-Security-Policy admits only
this server's own scripts and styles, so injected markup could not run even if it
got through.
"""

from __future__ import annotations

import logging
import math
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp_jinja2
import jinja2
from aiohttp import web

from api.access import POLICY
from api.http import Handler, is_console
from topology.tokens import Actor, Scope

log = logging.getLogger(__name__)
HERE = Path(__file__).resolve().parent
STATIC = HERE / "static"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
           "X-Frame-Options": "DENY", "Referrer-Policy": "same-origin",
           "Cache-Control": "no-store"}


def setup_templates(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(app, loader=jinja2.FileSystemLoader(HERE / "templates"),
                               autoescape=True, undefined=jinja2.ChainableUndefined)
    env.filters.update(pct=pct, num=num, pval=pval, raw=raw, when=when)


@web.middleware
async def console_pages(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on every console response; failures as pages for browsers (a
    sign-in page for a missing session), as JSON for everyone else."""
    if not is_console(request):
        return await handler(request)
    try:
        response = await handler(request)
    except Exception as exc:
        status = getattr(exc, "status", 500)
        if status < 400 or "text/html" not in request.headers.get("Accept", ""):
            raise
        if status == 500:
            log.exception("unexpected error in %s %s", request.method, request.path)
        if status == 401 and request.method == "GET":
            response = redirect(f"/ui/login?next={quote(request.path_qs, safe='')}")
        else:
            message = (exc.reason if isinstance(exc, web.HTTPException) else
                       str(exc) if status != 500 else "internal error: see the worker's log")
            details = getattr(exc, "details", [])
            response = aiohttp_jinja2.render_template(
                "error.html", request, {**context(request), "status": status,
                                        "message": message, "details": details},
                status=status)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    return response


def redirect(location: str) -> web.Response:
    """303: the browser follows with a GET (after a form's POST, too)."""
    return web.Response(status=303, headers={"Location": location})


def context(request: web.Request, **values: Any) -> dict[str, Any]:
    """What the layout needs: who is signed in, what they may do, the CSRF token."""
    actor: Actor | None = request.get("actor")
    session = request.get("session")
    policy = request.app[POLICY]
    return {"actor": actor.name if actor else None, "signed_in": session is not None,
            "csrf": policy.sessions.csrf(session) if session else "",
            "may_admin": bool(actor and actor.may(Scope.ADMIN)),
            "may_review": bool(actor and actor.may(Scope.REVIEW)),
            "path": request.path, **values}


def page(template: str, request: web.Request, **values: Any) -> web.Response:
    return aiohttp_jinja2.render_template(template, request, context(request, **values))


def pct(value: float | None, digits: int = 2) -> str:
    return "—" if value is None or not math.isfinite(value) else f"{value:+.{digits}%}"


def num(value: float | int | None, digits: int = 4) -> str:
    if value is None:
        return "—"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.{digits}g}" if math.isfinite(value) else "—"


def pval(value: float | None) -> str:
    if value is None:
        return "—"
    return "<0.0001" if value < 1e-4 else f"{value:.4f}"


def when(ms: int | None) -> str:
    """A time in milliseconds since the epoch, in UTC."""
    if not isinstance(ms, int | float):
        return "—"
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def raw(value: Any) -> str:
    """A number as the JSON API writes it, for data attributes tests and scripts read."""
    return "" if value is None else repr(value)


async def static_file(request: web.Request) -> web.StreamResponse:
    name = request.match_info["name"]
    files = {p.name: p for p in STATIC.iterdir() if p.is_file()}
    if name not in files:
        raise web.HTTPNotFound(reason=f"no static file {name!r}")
    return web.FileResponse(files[name], headers={"Cache-Control": "max-age=300"})
