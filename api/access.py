"""Who may call what: one check, in one middleware, for every route.

Each route of `api.routes.ROUTES` names the scope it needs (or `PUBLIC`, or a
function of the request for routes whose scope depends on what is asked); the
middleware finds the caller's actor from the bearer token, puts it on the
request as ``request["actor"]`` (None when anonymous) and refuses what the
actor may not do. A route missing from the policy is refused: none can forget.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from api.http import BODY_METHODS, Handler, HttpError, form_of, is_console
from console.session import COOKIE, CSRF_FIELD, SessionKeys
from topology.tokens import Actor, Scope

PUBLIC: Final = "public"
ScopeOf = Callable[[web.Request], Awaitable[Scope]]
Rule = Scope | Literal["public"] | ScopeOf


@dataclass(frozen=True)
class AccessPolicy:
    tokens: dict[str, Actor]  # bearer token → actor
    open_reads: bool  # anonymous callers may read
    open_intake: bool  # anonymous callers may send events
    rules: dict[AbstractRoute, Rule]
    sessions: SessionKeys

    def actor_of(self, request: web.Request) -> Actor | None:
        """The token's actor (or, on console pages, the session's); None without either;
        401 for a token nobody holds."""
        header = request.headers.get("Authorization")
        if header is None:
            return self._session_actor(request) if is_console(request) else None
        scheme, _, offered = header.partition(" ")
        # aiohttp keeps undecodable header bytes as surrogates: encode them back as they came.
        token = self.token_of(offered.strip().encode("utf-8", "surrogateescape"))
        if scheme.lower() != "bearer" or token is None:
            raise HttpError(401, "a valid bearer token is required")
        return self.tokens[token]

    def token_of(self, offered: bytes) -> str | None:
        """The token offered, when someone holds it."""
        found = None
        # Digests of equal length: comparing them says nothing of a token's length either.
        digest = hashlib.sha256(offered).digest()
        for token in self.tokens:  # every token, each in constant time
            if hmac.compare_digest(digest, hashlib.sha256(token.encode()).digest()):
                found = token
        return found

    def _session_actor(self, request: web.Request) -> Actor | None:
        session = self.sessions.read(request.cookies.get(COOKIE))
        if session is None:
            return None
        for token, actor in self.tokens.items():
            if hmac.compare_digest(self.sessions.fingerprint(token), session.fingerprint):
                request["session"] = session
                return actor
        return None  # its token was removed

    def check(self, actor: Actor | None, scope: Scope) -> None:
        """Refuse what `actor` may not do; a token never allows less than none does."""
        if (scope is Scope.READ and self.open_reads) or (
                scope is Scope.INTAKE and self.open_intake):
            return
        if actor is not None:
            if not actor.may(scope):
                raise HttpError(403, f"{actor.name!r} may not do this: it needs a token "
                                     f"with the {scope.value!r} scope")
            return
        if not self.tokens:
            raise HttpError(403, f"this needs the {scope.value!r} scope, and no tokens are "
                                 "set: set ABSTREAM_API_TOKENS on the worker")
        raise HttpError(401, f"a bearer token with the {scope.value!r} scope is required")


POLICY = web.AppKey("access_policy", AccessPolicy)


@web.middleware
async def enforce_access(request: web.Request, handler: Handler) -> web.StreamResponse:
    policy = request.app[POLICY]
    route = request.match_info.route
    if route.resource is None:  # no such path or method: aiohttp answers 404 or 405
        return await handler(request)
    rule = policy.rules.get(route)
    if rule is None:
        raise HttpError(403, "this route has no access rule")
    if is_console(request) and request.method in BODY_METHODS and _cross_site(request):
        # Sign-in and sign-out have no session to hold a CSRF token: the browser's own
        # word on where a form came from guards them (and every other console form).
        raise HttpError(403, "a console form must be sent from the console's own pages")
    if rule == PUBLIC:
        request["actor"] = None
        return await handler(request)
    request["actor"] = actor = policy.actor_of(request)
    policy.check(actor, rule if isinstance(rule, Scope) else await rule(request))
    if "session" in request and request.method in BODY_METHODS:
        # A browser sends the cookie with any request; only the console's own forms carry
        # the session's CSRF token.
        form = await form_of(request)
        if not policy.sessions.csrf_holds(request["session"], form.get(CSRF_FIELD)):
            raise HttpError(403, "the form's CSRF token is missing or stale: reload the page")
    return await handler(request)


def _cross_site(request: web.Request) -> bool:
    """A browser says so: Sec-Fetch-Site, or an Origin other than this server's."""
    if request.headers.get("Sec-Fetch-Site", "same-origin") not in ("same-origin", "none"):
        return True
    origin = request.headers.get("Origin")
    return origin is not None and origin.split("://", 1)[-1] != request.host


def actor_name(request: web.Request) -> str:
    """The acting actor's name, for routes whose scope only tokens grant."""
    actor: Actor | None = request.get("actor")
    if actor is None:  # unreachable while the route's scope needs a token
        raise HttpError(401, "a bearer token is required")
    return actor.name
