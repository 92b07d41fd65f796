"""What every config change shares: errors named by HTTP status, checks of the inputs,
and writing a checked definition through the config service.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from typing import Any

from agents.config_service import (
    AuditEntry,
    ConfigService,
    RecordTooLarge,
    WriteFailed,
    WriteRejected,
)
from agents.config_state import Checked, ConfigRecord, ConfigState
from errors import AbstreamError
from experiments.errors import ConfigError, Problem

MAX_REASON_CHARS = 1_000


class AdminError(AbstreamError):
    status = 400

    def __init__(self, message: str, details: list[str] | None = None) -> None:
        super().__init__(message)
        self.details = details or []


class NotFound(AdminError):
    status = 404


class Forbidden(AdminError):
    status = 403


class Conflict(AdminError):
    status = 409


class TooLarge(AdminError):
    status = 413


class Invalid(AdminError):
    status = 422


class PreconditionRequired(AdminError):
    status = 428


class Unavailable(AdminError):
    status = 503


def invalid(problems: list[Problem]) -> Invalid:
    return Invalid(f"invalid configuration ({len(problems)} problems)", [str(p) for p in problems])


def checked_reason(reason: Any) -> str:
    """The reason, if the audit trail can record it: text, bounded, valid Unicode."""
    if not isinstance(reason, str):
        raise Invalid("invalid reason", ["reason: must be text"])
    if len(reason) > MAX_REASON_CHARS:
        raise Invalid("invalid reason", [f"reason: at most {MAX_REASON_CHARS} characters, "
                                         f"not {len(reason)}"])
    try:
        reason.encode()
    except UnicodeEncodeError as exc:  # a lone surrogate, from a JSON escape or a decoder
        raise Invalid("invalid reason", [f"reason: not valid Unicode at character {exc.start}"]
                      ) from None
    return reason


def checked_mapping(document: Any, what: str) -> Mapping[str, Any]:
    if not isinstance(document, Mapping):
        raise Invalid(f"the body must be {what} (a JSON object), not {type(document).__name__}")
    return document


class AdminBase:
    def __init__(self, service: ConfigService, clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.clock = clock

    @property
    def state(self) -> ConfigState:
        return self.service.state

    def _checked(self, kind: str, key: str, definition: Mapping[str, Any] | None,
                 canonical: Callable[[Any], dict[str, Any]] | None = None) -> Checked:
        """The one validation of a change, against the state it will be written onto."""
        record = ConfigRecord(kind, key, 0, "", 0, "", None if definition is None
                              else dict(definition))
        try:
            return self.state.check(record, canonical)
        except ConfigError as exc:
            raise invalid(exc.problems) from None

    async def _write(self, checked: Checked, actor: str, audit: AuditEntry, version: int,
                     audit_key: str | None = None) -> ConfigRecord:
        try:
            return await self.service.write(checked, actor, audit, version, audit_key)
        except WriteRejected as exc:
            if exc.stale:
                raise Conflict("someone else changed it first; read it again and retry",
                               [str(p) for p in exc.problems]) from None
            raise invalid(exc.problems) from None
        except RecordTooLarge as exc:
            raise TooLarge("the change is too large to record", [str(exc)]) from None
        except WriteFailed as exc:
            raise Unavailable("the config log did not take the change", [str(exc)]) from None
