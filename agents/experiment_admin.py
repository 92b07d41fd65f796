"""Changing experiments through the config log: validation, concurrency, review, audit.

HTTP-free: the views in `api.config_views` translate requests to these calls and
`AdminError`s to responses.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from agents.config_service import AuditEntry, ConfigService, WriteRejected, new_change_id
from agents.config_state import CHANGE_KIND, ConfigRecord, ConfigState
from errors import AbstreamError
from experiments import ConfigSnapshot, experiment_document, parse_config
from experiments.changes import ChangeResult, apply_patch, diff, new_experiment
from experiments.errors import ConfigError, Problem
from experiments.model import Status
from experiments.parsing import config_document


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


class Invalid(AdminError):
    status = 422


class PreconditionRequired(AdminError):
    status = 428


class ExperimentAdmin:
    def __init__(self, service: ConfigService, clock: Callable[[], float] = time.time) -> None:
        self.service = service
        self.clock = clock
        self._served: tuple[ConfigSnapshot, dict[str, Any]] | None = None

    @property
    def state(self) -> ConfigState:
        return self.service.state

    # Reads

    def list_experiments(self) -> list[dict[str, Any]]:
        return [{"key": a.record.key, "version": a.record.version, **_brief(a.record.definition)}
                for a in self.state.records("experiment")]

    def get(self, key: str) -> tuple[dict[str, Any], int]:
        applied = self.state.current("experiment", key)
        if applied is None:
            raise NotFound(f"no experiment {key!r}")
        return applied.record.definition, applied.record.version

    def served_config(self) -> dict[str, Any]:
        """What SDKs poll: every non-draft experiment, the layers and the holdout."""
        snapshot = self.state.snapshot()
        if self._served is None or self._served[0] is not snapshot:  # built once per change
            document = config_document(snapshot.config)
            document["experiments"] = [e for e in document["experiments"]
                                       if e["status"] != "draft"]
            self._served = (snapshot, {"version": snapshot.version, **document})
        return self._served[1]

    def pending(self, key: str) -> list[dict[str, Any]]:
        return [{"id": a.record.key.split("/", 1)[1], **a.record.definition}
                for a in self.state.records(CHANGE_KIND)
                if a.record.key.startswith(f"{key}/")]

    def history(self, key: str) -> list[dict[str, Any]]:
        entries = self.service.history.get(f"experiment:{key}", [])
        json_fields = ("before", "after", "diff", "summary")
        return [{**entry, **{f: json.loads(entry[f]) if entry[f] else None for f in json_fields}}
                for entry in entries]

    # Writes

    async def create(self, document: Any, actor: str, reason: str = "",
                     dry_run: bool = False) -> dict[str, Any]:
        if not isinstance(document, Mapping) or not isinstance(document.get("key"), str):
            raise Invalid("the body must be an experiment with a key")
        key = document["key"]
        if self.state.current("experiment", key) is not None:
            raise Conflict(f"experiment {key!r} exists; change it with PATCH")
        try:
            canonical = self._canonical(new_experiment(document))
        except ConfigError as exc:
            raise _invalid(exc.problems) from None
        if dry_run:
            return {"experiment": canonical, "version": 1, "dry_run": True}
        version = self.state.version_of("experiment", key)  # a deleted key keeps counting
        audit = AuditEntry(new_change_id(), "create", reason, None, canonical, diff({}, canonical),
                           {})
        record = await self._write("experiment", key, canonical, actor, audit, version)
        return {"experiment": canonical, "version": record.version}

    async def update(self, key: str, patch: Any, expected_version: int | None, actor: str,
                     reason: str = "", dry_run: bool = False) -> tuple[int, dict[str, Any]]:
        """(200, the changed experiment) or (202, the pending change) when review is required."""
        if not isinstance(patch, Mapping) or not patch:
            raise Invalid("the body must be a non-empty mapping of fields to change")
        current, version = self._at_version(key, expected_version)
        result = self._changed(current, patch)
        body = {"diff": result.diff, **result.summary()}
        if dry_run:
            return 200, {"experiment": result.document, "version": version, "dry_run": True, **body}
        if current.get("requires_approval") or patch.get("requires_approval"):
            change_id = new_change_id()
            proposal = {"experiment": key, "patch": dict(patch), "base_version": version,
                        "proposed_by": actor, "reason": reason, **body}
            audit = AuditEntry(change_id, "propose", reason, current, result.document,
                               result.diff, result.summary())
            await self._write(CHANGE_KIND, f"{key}/{change_id}", proposal, actor, audit, 0,
                              audit_key=f"experiment:{key}")
            return 202, {"pending": change_id, **body}
        audit = AuditEntry(new_change_id(), "update", reason, current, result.document,
                           result.diff, result.summary())
        record = await self._write("experiment", key, result.document, actor, audit, version)
        return 200, {"experiment": result.document, "version": record.version, **body}

    async def delete(self, key: str, expected_version: int | None, actor: str,
                     reason: str = "") -> None:
        current, version = self._at_version(key, expected_version)
        if current["status"] != Status.DRAFT.value:
            raise Conflict(f"only drafts can be deleted; {key!r} is {current['status']}",
                           ["pause it, or conclude it to roll it back"])
        audit = AuditEntry(new_change_id(), "delete", reason, current, None, diff(current, {}), {})
        await self._write("experiment", key, None, actor, audit, version)

    async def review(self, key: str, change_id: str, actor: str, approve: bool,
                     reason: str = "") -> dict[str, Any]:
        change = self.state.current(CHANGE_KIND, f"{key}/{change_id}")
        if change is None:
            raise NotFound(f"no pending change {change_id!r} for {key!r}")
        proposal = change.record.definition
        if approve and proposal["proposed_by"] == actor:
            raise Forbidden("a change needs approval by someone other than its author",
                            [f"proposed by {actor!r}"])
        body: dict[str, Any] = {"change": change_id, "approved": approve}
        if approve:
            current, version = self._at_version(key, proposal["base_version"])
            result = self._changed(current, proposal["patch"])
            audit = AuditEntry(change_id, "approve", reason or proposal["reason"], current,
                               result.document, result.diff, result.summary())
            record = await self._write("experiment", key, result.document, actor, audit, version)
            body |= {"experiment": result.document, "version": record.version}
        closing = AuditEntry(change_id, "approve" if approve else "reject", reason, proposal,
                             None, {}, {})
        # An approval is already in the experiment's history; a rejection is recorded there.
        await self._write(CHANGE_KIND, f"{key}/{change_id}", None, actor, closing,
                          change.record.version,
                          audit_key=None if approve else f"experiment:{key}")
        return body

    async def put(self, kind: str, key: str, document: Any, expected_version: int | None,
                  actor: str, reason: str = "") -> dict[str, Any]:
        """Create or replace a layer or the holdout."""
        version = self.state.version_of(kind, key)
        if expected_version is not None and expected_version != version:
            raise Conflict(f"{kind} {key!r} is at version {version}, not {expected_version}")
        if not isinstance(document, Mapping):
            raise Invalid(f"the body must be a {kind} definition")
        applied = self.state.current(kind, key)
        before = applied.record.definition if applied else None
        audit = AuditEntry(new_change_id(), "update" if before else "create", reason, before,
                           dict(document), diff(before or {}, dict(document)), {})
        record = await self._write(kind, key, dict(document), actor, audit, version)
        return {kind: document, "version": record.version}

    # Helpers

    def _at_version(self, key: str, expected: int | None) -> tuple[dict[str, Any], int]:
        if expected is None:
            raise PreconditionRequired("send the version you changed in an If-Match header")
        current, version = self.get(key)
        if expected != version:
            raise Conflict(f"experiment {key!r} is at version {version}, not {expected}",
                           ["read it again and retry"])
        return current, version

    def _changed(self, current: dict[str, Any], patch: Mapping[str, Any]) -> ChangeResult:
        try:
            result = apply_patch(current, patch, datetime.fromtimestamp(self.clock(), UTC))
            canonical = self._canonical(result.document)
        except ConfigError as exc:
            raise _invalid(exc.problems) from None
        return type(result)(canonical, diff(current, canonical), result.allocation)

    def _canonical(self, document: dict[str, Any]) -> dict[str, Any]:
        """Parsed, validated with the whole configuration, and written out in full.

        Raises `ConfigError` with every problem: of form (types, unknown fields) and of
        meaning (weights, ranges, layers), together.
        """
        config, problems = parse_config({"experiments": [document]})
        canonical: dict[str, Any] = {}
        if config.experiments:
            canonical = experiment_document(config.experiments[0])
            record = ConfigRecord("experiment", canonical["key"], 0, "", 0, "", canonical)
            problems += [p for p in self.state.check(record) if p not in problems]
        if problems:
            raise ConfigError(problems)
        return canonical

    async def _write(self, kind: str, key: str, definition: dict[str, Any] | None, actor: str,
                     audit: AuditEntry, version: int, audit_key: str | None = None
                     ) -> ConfigRecord:
        try:
            return await self.service.write(kind, key, definition, actor, audit, version,
                                            audit_key)
        except WriteRejected as exc:
            if exc.stale:
                raise Conflict("someone else changed it first; read it again and retry",
                               [str(p) for p in exc.problems]) from None
            raise _invalid(exc.problems) from None


def _invalid(problems: list[Problem]) -> Invalid:
    return Invalid(f"invalid configuration ({len(problems)} problems)", [str(p) for p in problems])


def _brief(definition: dict[str, Any]) -> dict[str, Any]:
    return {name: definition.get(name) for name in ("status", "layer", "coverage", "description")}
