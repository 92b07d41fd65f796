"""Changing a layer or the global holdout: dry runs, and review when a guarded experiment is
concerned (one with `requires_approval`: every running one for the holdout, its members for
a layer), since such a change moves that experiment's users as surely as a patch would.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from agents.admin_base import AdminBase, Conflict, checked_mapping, checked_reason
from agents.config_service import AuditEntry, new_change_id
from agents.config_state import CHANGE_KIND, Applied, Checked
from experiments.changes import diff
from experiments.model import Holdout, Status

CANONICAL = {
    "layer": lambda layer: {"key": layer.key, "description": layer.description},
    "holdout": lambda holdout: {"percent": holdout.percent, "salt": holdout.salt},
}


class SharedConfigAdmin(AdminBase):
    async def put(self, kind: str, key: str, document: Any, expected_version: int | None,
                  actor: str, reason: str = "", dry_run: bool = False
                  ) -> tuple[int, dict[str, Any]]:
        """Create or replace a layer or the holdout: (200, it) or (202, the pending change)."""
        reason = checked_reason(reason)
        document = checked_mapping(document, f"a {kind} definition")
        version = self.state.version_of(kind, key)
        if expected_version is not None and expected_version != version:
            raise Conflict(f"{kind} {key!r} is at version {version}, not {expected_version}")
        checked = self._checked(kind, key, {**document, "key": key} if kind == "layer"
                                else document, CANONICAL[kind])
        current = self.state.current(kind, key)
        before, body = _definition(current), _preview(current, checked)
        if dry_run:
            return 200, {kind: checked.definition, "version": version, "dry_run": True, **body}
        guarded = self._guarded(kind, key)
        if guarded:
            return 202, await self._propose(checked, version, actor, reason, guarded, body)
        audit = AuditEntry(new_change_id(), "update" if before else "create", reason, before,
                           checked.definition, body["diff"], _summary(body))
        record = await self._write(checked, actor, audit, version)
        return 200, {kind: checked.definition, "version": record.version, **body}

    def _guarded(self, kind: str, key: str) -> list[str]:
        """Experiments that require approval and whose users this change can move."""
        return [a.record.key for a in self.state.records("experiment")
                if a.record.definition.get("requires_approval")
                and a.record.definition.get("status") != Status.CONCLUDED.value
                and (kind == "holdout" or getattr(a.parsed, "layer", None) == key)]

    async def _propose(self, checked: Checked, version: int, actor: str, reason: str,
                       guarded: list[str], body: dict[str, Any]) -> dict[str, Any]:
        change_id = new_change_id()
        proposal = {"target": checked.kind, "key": checked.key, "definition": checked.definition,
                    "base_version": version, "proposed_by": actor, "reason": reason,
                    "experiments": guarded, **body}
        before = _definition(self.state.current(checked.kind, checked.key))
        audit = AuditEntry(change_id, "propose", reason, before, checked.definition,
                           body["diff"], _summary(body))
        await self._write(self._checked(CHANGE_KIND, f"{checked.kind}:{checked.key}/{change_id}",
                                        proposal), actor, audit, 0,
                          audit_key=f"{checked.kind}:{checked.key}")
        return {"pending": change_id, "experiments": guarded, **body}

    async def _approve_shared(self, proposal: Mapping[str, Any], change_id: str, actor: str,
                              reason: str) -> dict[str, Any]:
        """Apply an approved layer or holdout change, if nothing changed it since."""
        kind, key = proposal["target"], proposal["key"]
        version = self.state.version_of(kind, key)
        if version != proposal["base_version"]:
            raise Conflict(f"{kind} {key!r} changed since it was proposed "
                           f"(version {version}, not {proposal['base_version']})",
                           ["reject this change and propose it again"])
        checked = self._checked(kind, key, proposal["definition"], CANONICAL[kind])
        current = self.state.current(kind, key)
        before, body = _definition(current), _preview(current, checked)
        audit = AuditEntry(change_id, "approve", reason or proposal["reason"], before,
                           checked.definition, body["diff"], _summary(body))
        record = await self._write(checked, actor, audit, version)
        return {kind: checked.definition, "version": record.version}


def _definition(applied: Applied | None) -> dict[str, Any] | None:
    return applied.record.definition if applied else None


def _preview(before: Applied | None, checked: Checked) -> dict[str, Any]:
    """The field diff, and how many users move (a layer's own fields move nobody)."""
    moved = 0.0
    if isinstance(checked.parsed, Holdout):
        moved = _holdout_moved(before.parsed if before else None, checked.parsed)
    return {"diff": diff(_definition(before) or {}, checked.definition or {}),
            "users_moved_percent": moved}


def _holdout_moved(before: Any, after: Holdout) -> float:
    """The percent of users who enter or leave the holdout.

    Exact with the same salt (the held-out buckets are a prefix); a new salt rehashes
    everyone, and the share is then the expected one, p + q - 2pq.
    """
    old = before.percent if before else 0.0
    if before is None or before.salt == after.salt:
        return round(abs(after.percent - old), 2)
    p, q = old / 100, after.percent / 100
    return round((p + q - 2 * p * q) * 100, 2)


def _summary(body: Mapping[str, Any]) -> dict[str, Any]:
    return {"users_moved_percent": body["users_moved_percent"], "new_phase": False, "moves": {}}
