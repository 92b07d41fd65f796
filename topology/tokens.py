"""API tokens: who an API token speaks for, and what it may do.

``ABSTREAM_API_TOKENS`` lists ``actor:token[:scope+scope...]`` entries separated
by commas. Without scopes (the original ``actor:token`` form) a token may
administer, review and read. ``admin`` and ``review`` imply ``read``; ``intake``
implies nothing else, because services and browsers embed intake tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class Scope(StrEnum):
    ADMIN = "admin"  # config writes
    REVIEW = "review"  # approve or reject pending changes
    INTAKE = "intake"  # exposures and goal events, activation by /assignments
    READ = "read"  # results, config, experiments, history, assignments, metrics


UNSCOPED = frozenset({Scope.ADMIN, Scope.REVIEW, Scope.READ})
IMPLIED = {Scope.ADMIN: {Scope.READ}, Scope.REVIEW: {Scope.READ}}
MIN_TOKEN_CHARS = 8


# Actors of the platform's automatic changes: a token may not pose as one of them.
AUTOMATIC_ACTORS = frozenset({"scheduler", "srm-monitor"})


@dataclass(frozen=True)
class Actor:
    name: str
    scopes: frozenset[Scope]

    def may(self, scope: Scope) -> bool:
        return scope in self.scopes


def parse_tokens(text: str) -> dict[str, Actor]:
    """``ops:s3cret-token:admin+review,web:t0ken-abc:intake`` → token → `Actor`."""
    actors: dict[str, Actor] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, token, scopes = _entry(item)
        if token in actors:
            raise ValueError(f"the token of {name!r} is also {actors[token].name!r}'s")
        actors[token] = Actor(name, scopes)
    return actors


def _entry(item: str) -> tuple[str, str, frozenset[Scope]]:
    name, sep, rest = item.partition(":")
    token, _, listed = rest.partition(":")
    if not sep or not name or len(token) < MIN_TOKEN_CHARS:
        raise ValueError(f"use actor:token[:scope+scope] entries separated by commas, "
                         f"tokens of {MIN_TOKEN_CHARS}+ characters")
    if name in AUTOMATIC_ACTORS:
        raise ValueError(f"{name!r} is the name of the platform's own automatic changes: "
                         "give the token another actor name")
    if not listed:
        return name, token, UNSCOPED
    return name, token, frozenset(_scopes(name, listed.split("+")))


def _scopes(name: str, listed: list[str]) -> set[Scope]:
    known = ", ".join(s.value for s in Scope)
    granted: set[Scope] = set()
    for word in listed:
        try:
            scope = Scope(word.strip().lower())
        except ValueError:
            raise ValueError(f"{name!r}: unknown scope {word!r} (scopes: {known})") from None
        granted |= {scope, *IMPLIED.get(scope, ())}
    return granted
