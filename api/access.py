"""Who may call what: one check, in one middleware, for every route.

Each route of `api.routes.ROUTES` names the scope it needs (or `PUBLIC`, or a
function of the request for routes whose scope depends on what is asked); the
middleware finds the caller's actor from the bearer token, puts it on the
request as ``request["actor"]`` (None when anonymous) and refuses what the
actor may not do. A route missing from the policy is refused: none can forget.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal

from aiohttp import web
from aiohttp.web_urldispatcher import AbstractRoute

from api.http import Handler, HttpError
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

    def actor_of(self, request: web.Request) -> Actor | None:
        """The token's actor; None without a token; 401 for a token nobody holds."""
        header = request.headers.get("Authorization")
        if header is None:
            return None
        scheme, _, offered = header.partition(" ")
        found = None
        # aiohttp keeps undecodable header bytes as surrogates: encode them back as they came.
        offered_bytes = offered.strip().encode("utf-8", "surrogateescape")
        for token, actor in self.tokens.items():  # every token, each in constant time
            if hmac.compare_digest(offered_bytes, token.encode()):
                found = actor
        if scheme.lower() != "bearer" or found is None:
            raise HttpError(401, "a valid bearer token is required")
        return found

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
    if rule == PUBLIC:
        request["actor"] = None
        return await handler(request)
    request["actor"] = actor = policy.actor_of(request)
    policy.check(actor, rule if isinstance(rule, Scope) else await rule(request))
    return await handler(request)


def actor_name(request: web.Request) -> str:
    """The acting actor's name, for routes whose scope only tokens grant."""
    actor: Actor | None = request.get("actor")
    if actor is None:  # unreachable while the route's scope needs a token
        raise HttpError(401, "a bearer token is required")
    return actor.name
