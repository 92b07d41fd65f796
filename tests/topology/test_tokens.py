from __future__ import annotations

import re

import pytest

from topology.tokens import UNSCOPED, Scope, parse_tokens


def test_an_unscoped_token_administers_reviews_and_reads() -> None:
    actor = parse_tokens("alice:alice-token-1")["alice-token-1"]
    assert actor.name == "alice" and actor.scopes == UNSCOPED
    assert not actor.may(Scope.INTAKE)


def test_scopes_are_listed_with_plus_and_admin_or_review_imply_read() -> None:
    actors = parse_tokens("ops:ops-token-1:admin+review, qa:qa-token-22:review,"
                          "web:web-token-333:intake")
    assert actors["ops-token-1"].scopes == {Scope.ADMIN, Scope.REVIEW, Scope.READ}
    assert actors["qa-token-22"].scopes == {Scope.REVIEW, Scope.READ}
    assert actors["web-token-333"].scopes == {Scope.INTAKE}  # nothing else: browsers hold it


@pytest.mark.parametrize(("text", "reason"), [
    ("web:web-token-333:intake+root", "unknown scope 'root'"),
    ("a:same-token-1,b:same-token-1", "also 'a'"),
    ("web:short:intake", "8+ characters"),
])
def test_malformed_entries_say_what_is_wrong(text: str, reason: str) -> None:
    with pytest.raises(ValueError, match=re.escape(reason)):
        parse_tokens(text)
