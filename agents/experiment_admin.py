"""Changing experiments through the config log: validation, concurrency, review, audit.

HTTP-free: the views in `api.config_views` translate requests to these calls and
`AdminError`s to responses. Layers and the holdout are in `agents.layer_admin`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from agents.admin_base import (
    AdminError,
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PreconditionRequired,
    checked_mapping,
    checked_reason,
    invalid,
)
from agents.config_service import AuditEntry, ConfigService, new_change_id
from agents.config_state import CHANGE_KIND, Applied, Checked
from agents.layer_admin import SharedConfigAdmin
from experiments import ConfigSnapshot, experiment_document
from experiments.changes import ChangeResult, apply_patch, diff, new_experiment
from experiments.errors import ConfigError
from experiments.model import Status
from experiments.parsing import config_document
from experiments.ramps import stopped

__all__ = ["AdminError", "ExperimentAdmin"]


class ExperimentAdmin(SharedConfigAdmin):
    def __init__(self, service: ConfigService, **options: Any) -> None:
        super().__init__(service, **options)
        self._served: tuple[ConfigSnapshot, dict[str, Any]] | None = None

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
        """Changes waiting for review that concern `key`: its own, and layer or holdout ones."""
        return [{"id": a.record.key.rsplit("/", 1)[1], **a.record.definition}
                for a in self.state.records(CHANGE_KIND) if _concerns(a, key)]

    def history(self, key: str) -> list[dict[str, Any]]:
        """The audit trail, each entry marked `applied` (false: audited, never applied)."""
        entries = self.service.history.get(f"experiment:{key}", [])
        failed = {_change_of(e) for e in entries if e["action"] == "failed"}
        json_fields = ("before", "after", "diff", "summary")
        return [{**entry, **{f: json.loads(entry[f]) if entry[f] else None for f in json_fields},
                 "applied": entry["action"] != "failed" and _change_of(entry) not in failed
                 and self.state.confirms(entry["kind"], entry["key"], entry["version_after"],
                                         entry["time"])}
                for entry in entries]

    # Writes

    async def create(self, document: Any, actor: str, reason: str = "",
                     dry_run: bool = False) -> dict[str, Any]:
        reason = checked_reason(reason)
        document = checked_mapping(document, "an experiment")
        if not isinstance(document.get("key"), str):
            raise Invalid("the body must be an experiment with a key")
        key = document["key"]
        if self.state.current("experiment", key) is not None:
            raise Conflict(f"experiment {key!r} exists; change it with PATCH")
        try:
            draft = new_experiment(document)
        except ConfigError as exc:
            raise invalid(exc.problems) from None
        checked = self._checked("experiment", key, draft, experiment_document)
        canonical = checked.definition or {}
        if dry_run:
            return {"experiment": canonical, "version": 1, "dry_run": True}
        version = self.state.version_of("experiment", key)  # a deleted key keeps counting
        audit = AuditEntry(new_change_id(), "create", reason, None, canonical, diff({}, canonical),
                           {})
        record = await self._write(checked, actor, audit, version)
        return {"experiment": canonical, "version": record.version}

    async def update(self, key: str, patch: Any, expected_version: int | None, actor: str,
                     reason: str = "", dry_run: bool = False) -> tuple[int, dict[str, Any]]:
        """(200, the changed experiment) or (202, the pending change) when review is required."""
        reason = checked_reason(reason)
        if not isinstance(patch, Mapping) or not patch:
            raise Invalid("the body must be a non-empty JSON object of fields to change")
        current, version = self._at_version(key, expected_version)
        result, checked = self._changed(key, current, patch, actor)
        body = {"diff": result.diff, **result.summary()}
        if dry_run:
            return 200, {"experiment": result.document, "version": version, "dry_run": True, **body}
        if current.get("requires_approval") or patch.get("requires_approval"):
            change_id = new_change_id()
            proposal = {"experiment": key, "patch": dict(patch), "base_version": version,
                        "proposed_by": actor, "reason": reason, **body}
            audit = AuditEntry(change_id, "propose", reason, current, result.document,
                               result.diff, result.summary())
            await self._write(self._checked(CHANGE_KIND, f"{key}/{change_id}", proposal), actor,
                              audit, 0, audit_key=f"experiment:{key}")
            return 202, {"pending": change_id, **body}
        audit = AuditEntry(new_change_id(), "update", reason, current, result.document,
                           result.diff, result.summary())
        record = await self._write(checked, actor, audit, version)
        return 200, {"experiment": result.document, "version": record.version, **body}

    async def act(self, key: str, patch: Mapping[str, Any], expected_version: int, actor: str,
                  reason: str, stop_ramp: str | None = None) -> dict[str, Any]:
        """An automatic action (a ramp's step, a rollback) applied at once: review is for
        people's changes, and the schedule or safety rule acting was itself reviewed.
        `stop_ramp` suspends the schedule with that reason."""
        if not patch and not stop_ramp:
            raise Invalid("an automatic action changes something: a field or the schedule")
        current, version = self._at_version(key, expected_version)
        result, checked = self._changed(key, current, patch, actor, stop_ramp)
        audit = AuditEntry(new_change_id(), "update", checked_reason(reason), current,
                           result.document, result.diff, result.summary())
        record = await self._write(checked, actor, audit, version)
        return {"experiment": result.document, "version": record.version}

    async def delete(self, key: str, expected_version: int | None, actor: str,
                     reason: str = "") -> None:
        reason = checked_reason(reason)
        current, version = self._at_version(key, expected_version)
        if current["status"] != Status.DRAFT.value:
            raise Conflict(f"only drafts can be deleted; {key!r} is {current['status']}",
                           ["pause it, or conclude it to roll it back"])
        audit = AuditEntry(new_change_id(), "delete", reason, current, None, diff(current, {}), {})
        await self._write(self._checked("experiment", key, None), actor, audit, version)

    async def review(self, key: str, change_id: str, actor: str, approve: bool,
                     reason: str = "") -> dict[str, Any]:
        reason = checked_reason(reason)
        change = self._change(key, change_id)
        proposal = change.record.definition or {}
        if approve and proposal["proposed_by"] == actor:
            raise Forbidden("a change needs approval by someone other than its author",
                            [f"proposed by {actor!r}"])
        body: dict[str, Any] = {"change": change_id, "approved": approve}
        if approve and "target" in proposal:
            body |= await self._approve_shared(proposal, change_id, actor, reason)
        elif approve:
            body |= await self._approve_patch(key, proposal, change_id, actor, reason)
        target = (f"{proposal['target']}:{proposal['key']}" if "target" in proposal
                  else f"experiment:{key}")
        closing = AuditEntry(change_id, "approve" if approve else "reject", reason, proposal,
                             None, {}, {})
        # An approval is already in the target's history; a rejection is recorded there.
        await self._write(self._checked(CHANGE_KIND, change.record.key, None), actor, closing,
                          change.record.version, audit_key=None if approve else target)
        return body

    # Helpers

    async def _approve_patch(self, key: str, proposal: Mapping[str, Any], change_id: str,
                             actor: str, reason: str) -> dict[str, Any]:
        current, version = self._at_version(key, proposal["base_version"])
        result, checked = self._changed(key, current, proposal["patch"], proposal["proposed_by"])
        audit = AuditEntry(change_id, "approve", reason or proposal["reason"], current,
                           result.document, result.diff, result.summary())
        record = await self._write(checked, actor, audit, version)
        return {"experiment": result.document, "version": record.version}

    def _change(self, key: str, change_id: str) -> Applied:
        change = self.state.current(CHANGE_KIND, f"{key}/{change_id}")
        change = change or next((a for a in self.state.records(CHANGE_KIND)
                                 if a.record.key.endswith(f"/{change_id}")
                                 and _concerns(a, key)), None)
        if change is None:
            raise NotFound(f"no pending change {change_id!r} for {key!r}")
        return change

    def _at_version(self, key: str, expected: int | None) -> tuple[dict[str, Any], int]:
        if expected is None:
            raise PreconditionRequired("send the version you changed in an If-Match header")
        current, version = self.get(key)
        if expected != version:
            raise Conflict(f"experiment {key!r} is at version {version}, not {expected}",
                           ["read it again and retry"])
        return current, version

    def _changed(self, key: str, current: dict[str, Any], patch: Mapping[str, Any], actor: str,
                 stop_ramp: str | None = None) -> tuple[ChangeResult, Checked]:
        try:
            result = apply_patch(current, patch, datetime.fromtimestamp(self.clock(), UTC),
                                 actor)
        except ConfigError as exc:
            raise invalid(exc.problems) from None
        document = stopped(result.document, stop_ramp) if stop_ramp else result.document
        checked = self._checked("experiment", key, document, experiment_document)
        canonical = checked.definition or {}
        return type(result)(canonical, diff(current, canonical), result.allocation), checked


def _concerns(change: Applied, key: str) -> bool:
    return (change.record.key.startswith(f"{key}/")
            or key in (change.record.definition or {}).get("experiments", ()))


def _change_of(entry: Mapping[str, Any]) -> tuple[Any, ...]:
    return entry["change_id"], entry["kind"], entry["key"], entry["version_after"]


def _brief(definition: dict[str, Any]) -> dict[str, Any]:
    return {name: definition.get(name) for name in ("status", "layer", "coverage", "description")}
