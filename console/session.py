"""Console sessions: a signed cookie naming the token it was opened with, and CSRF tokens.

The cookie holds the token's keyed fingerprint (never the token), an expiry and a
nonce, signed with HMAC-SHA256. A session ends when it expires, when its token is
removed from ABSTREAM_API_TOKENS, or when the secret changes. Each session has
its own CSRF token, derived from its nonce: forms that write carry it, and a
cookie-authenticated write without it is refused (`api.access`).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Iterable
from dataclasses import dataclass

COOKIE = "abstream_session"
CSRF_FIELD = "csrf"


@dataclass(frozen=True)
class Session:
    fingerprint: str  # of the token signed in with
    expires_at: float
    nonce: str


class SessionKeys:
    def __init__(self, secret: bytes, ttl_s: float) -> None:
        self._key = hashlib.sha256(b"abstream-console\0" + secret).digest()
        self.ttl_s = ttl_s

    @classmethod
    def for_tokens(cls, tokens: Iterable[str], secret: str | None, ttl_s: float) -> SessionKeys:
        """Keyed by `secret`, or else by the tokens themselves: workers that share their
        tokens share sessions, and changing the tokens ends every session."""
        material = secret if secret is not None else "\0".join(sorted(tokens))
        return cls(material.encode(), ttl_s)

    def fingerprint(self, token: str) -> str:
        return self._mac(b"token:" + token.encode())[:32]

    def open(self, token: str, now: float | None = None) -> tuple[str, Session]:
        """A new session for `token`: the cookie's value, and the session."""
        session = Session(self.fingerprint(token), (now or time.time()) + self.ttl_s,
                          secrets.token_urlsafe(12))
        body = base64.urlsafe_b64encode(json.dumps(
            [session.fingerprint, session.expires_at, session.nonce]).encode()).decode()
        return f"{body}.{self._mac(body.encode())}", session

    def read(self, cookie: str | None, now: float | None = None) -> Session | None:
        """The session of a cookie whose signature holds and which has not expired."""
        if not cookie or "." not in cookie or len(cookie) > 512 or not cookie.isascii():
            return None
        body, _, signature = cookie.rpartition(".")
        if not hmac.compare_digest(signature.encode(), self._mac(body.encode()).encode()):
            return None
        try:
            fingerprint, expires_at, nonce = json.loads(base64.urlsafe_b64decode(body))
            session = Session(str(fingerprint), float(expires_at), str(nonce))
        except (ValueError, TypeError):
            return None
        return session if session.expires_at > (now or time.time()) else None

    def csrf(self, session: Session) -> str:
        return self._mac(b"csrf:" + session.nonce.encode())[:40]

    def csrf_holds(self, session: Session, offered: str | None) -> bool:
        return offered is not None and hmac.compare_digest(offered.encode(),
                                                           self.csrf(session).encode())

    def _mac(self, data: bytes) -> str:
        return hmac.new(self._key, data, hashlib.sha256).hexdigest()
