"""The console's writing pages: sign-in, actions with their dry-run preview, reviews, drafts.

Each write is the API's own call (`ExperimentAdmin`) under the signed-in token's actor,
so validation, approval rules and the audit trail are the API's. Access and CSRF are
checked before any of these runs (`api.access`).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from agents.admin_base import AdminError, Conflict
from api.access import POLICY
from api.config_views import ADMIN, writer
from api.http import form_of
from console.app import page, redirect
from console.forms import (
    ACTIONS,
    DRAFT_FIELDS,
    FormError,
    action_fields,
    draft_form,
    draft_of,
    patch_of,
    problems_by_field,
)
from console.session import COOKIE


async def login_page(request: web.Request) -> web.Response:
    return page("login.html", request, next=_next(request.query.get("next")), problem=None)


async def login(request: web.Request) -> web.Response:
    form = await form_of(request) if request.body_exists else {}
    policy = request.app[POLICY]
    offered = form.get("token", "").strip()
    token = policy.token_of(offered.encode("utf-8", "surrogateescape")) if offered else None
    if token is None:
        problem = "that token is not one of this worker's" if offered else "enter a token"
        return page("login.html", request, next=_next(form.get("next")), problem=problem)
    cookie, _ = policy.sessions.open(token)
    response = redirect(_next(form.get("next")))
    secure = request.secure or request.headers.get("X-Forwarded-Proto", "") == "https"
    response.set_cookie(COOKIE, cookie, max_age=int(policy.sessions.ttl_s), path="/ui/",
                        httponly=True, samesite="Strict", secure=secure)
    return response


async def logout(request: web.Request) -> web.Response:
    response = redirect("/ui/login")
    response.del_cookie(COOKIE, path="/ui/")
    return response


def _next(target: str | None) -> str:
    """Only a console path: a sign-in never sends anyone elsewhere."""
    if (target and target.startswith("/ui/") and target.isascii() and target.isprintable()
            and " " not in target and "\\" not in target):
        return target
    return "/ui/"


async def preview(request: web.Request) -> web.Response:
    """The dry run of an action: the field diff, users moved, whether a phase starts."""
    admin, actor = await writer(request)
    key, query = request.match_info["key"], request.query
    document, version = admin.get(key)
    action = query.get("action", "")
    try:
        patch = patch_of(action, query, document)
    except FormError as exc:
        return _refused(request, key, exc.problems)
    try:
        _, body = await admin.update(key, patch, version, actor, query.get("reason", ""),
                                     dry_run=True)
    except AdminError as exc:
        return _refused(request, key, {"change": [str(exc), *exc.details]})
    return page("preview.html", request, key=key, action=action, label=ACTIONS[action],
                version=version, reason=query.get("reason", ""), preview=body,
                fields=action_fields(action, query),
                needs_review=bool(document.get("requires_approval")))


async def apply(request: web.Request) -> web.Response:
    admin, actor = await writer(request)
    key, form = request.match_info["key"], await form_of(request)
    document, _ = admin.get(key)
    try:
        expected = int(form.get("version", ""))
        patch = patch_of(form.get("action", ""), form, document)
    except FormError as exc:
        return _refused(request, key, exc.problems)
    except ValueError:
        return _refused(request, key, {"version": ["the form lost its version: start again"]})
    status, body = await admin.update(key, patch, expected, actor, form.get("reason", ""))
    done = {"pending": body["pending"]} if status == 202 else {"applied": body["version"]}
    return redirect(f"/ui/experiments/{key}?{urlencode(done)}")


async def approve(request: web.Request) -> web.Response:
    return await _review(request, approve=True)


async def reject(request: web.Request) -> web.Response:
    return await _review(request, approve=False)


async def _review(request: web.Request, approve: bool) -> web.Response:
    admin, actor = await writer(request)
    key, change = request.match_info["key"], request.match_info["change"]
    form = await form_of(request)
    await admin.review(key, change, actor, approve, form.get("reason", ""))
    outcome = "approved" if approve else "rejected"
    return redirect(f"/ui/experiments/{key}?{urlencode({'reviewed': change, 'outcome': outcome})}")


def _refused(request: web.Request, key: str, problems: dict[str, list[str]]) -> web.Response:
    return page("refused.html", request, key=key, problems=problems)


async def draft_page(request: web.Request) -> web.Response:
    """The form for a new draft, or for an existing draft (/ui/experiments/{key}/edit)."""
    key = request.match_info.get("key")
    values: dict[str, str] = {}
    if key is not None:
        document, version = request.app[ADMIN].get(key)
        values = {**draft_form(document), "version": str(version)}
    return _draft(request, key, values, {}, [])


async def save_draft(request: web.Request) -> web.Response:
    admin, actor = await writer(request)
    key = request.match_info.get("key")
    form = await form_of(request)
    values = {name: form.get(name, "") for name in (*DRAFT_FIELDS, "version")}
    done: dict[str, Any] = {}
    try:
        document = draft_of(form)
        if key is None:
            done["applied"] = (await admin.create(document, actor, form.get("reason", "")))[
                "version"]
            key = document["key"]
        else:
            current, _ = admin.get(key)
            if current["status"] != "draft":
                raise Conflict(f"{key!r} is {current['status']}: only drafts are edited here",
                               ["change a running experiment with the actions on its page"])
            version = _form_version(form)
            patch = {k: v for k, v in document.items() if k != "key" and v != current.get(k)}
            for name in ("targeting", "dimensions", "requires_approval"):
                if name not in document and current.get(name):  # cleared on the form
                    patch[name] = [] if name == "dimensions" else (
                        False if name == "requires_approval" else None)
            if patch:
                status, body = await admin.update(key, patch, version, actor,
                                                  form.get("reason", ""))
                done = {"pending": body["pending"]} if status == 202 else {
                    "applied": body["version"]}
    except FormError as exc:
        return _draft(request, key, values, exc.problems, [], status=422)
    except AdminError as exc:
        placed, elsewhere = problems_by_field(exc.details)
        return _draft(request, key, values, placed, [str(exc), *elsewhere], status=exc.status)
    return redirect(f"/ui/experiments/{key}?{urlencode(done)}")


def _form_version(form: Any) -> int:
    """The version the form was opened on: a save never overwrites a change made since."""
    try:
        return int(form.get("version", ""))
    except ValueError:
        raise FormError({"version": ["the form lost its version: open it again"]}) from None


def _draft(request: web.Request, key: str | None, values: dict[str, str],
           problems: dict[str, list[str]], general: list[str], status: int = 200,
           ) -> web.Response:
    layers = [layer.key for layer in request.app[ADMIN].state.snapshot().config.layers]
    response = page("draft.html", request, key=key, values=values, problems=problems,
                    general=general, layers=layers)
    response.set_status(status)
    return response
