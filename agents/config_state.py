"""The live configuration: records from the config topic, folded into a `ConfigSnapshot`.

Every worker folds the same log in the same order, so every worker ends with
the same state, and the snapshot version (the next offset to read) names it.
A record applies only if its version is exactly one more than the key's
current version and the configuration stays valid with it; otherwise it is
rejected (a concurrent or stale write, or a producer that bypassed the API),
and the rejection is remembered so its writer can answer 409 or 422.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from experiments import Config, ConfigSnapshot, Experiment, Holdout, Layer, parse_config
from experiments.errors import ConfigError, Problem
from experiments.validation import validate_config

CONFIG_KINDS = ("experiment", "layer", "holdout")
CHANGE_KIND = "change"  # a pending change, waiting for review


@dataclass(frozen=True)
class ConfigRecord:
    kind: str
    key: str
    version: int
    actor: str
    time: int  # ms since the epoch
    reason: str
    definition: dict[str, Any] | None  # None: deleted

    @property
    def topic_key(self) -> str:
        return f"{self.kind}:{self.key}"

    def to_avro(self) -> dict[str, Any]:
        definition = None if self.definition is None else json.dumps(self.definition)
        return {"kind": self.kind, "key": self.key, "version": self.version, "actor": self.actor,
                "time": self.time, "reason": self.reason, "definition": definition}

    @classmethod
    def from_avro(cls, value: dict[str, Any]) -> ConfigRecord:
        raw = value["definition"]
        return cls(value["kind"], value["key"], value["version"], value["actor"], value["time"],
                   value["reason"], None if raw is None else json.loads(raw))


@dataclass(frozen=True)
class Applied:
    record: ConfigRecord
    offset: int
    parsed: Experiment | Layer | Holdout | None  # None for pending changes and deletions


class ConfigState:
    """Folds config records in log order; builds snapshots on demand."""

    def __init__(self) -> None:
        self.offset = 0  # the next offset to read: the version of the state
        self._current: dict[tuple[str, str], Applied] = {}
        self.rejected: dict[int, list[Problem]] = {}  # offset → why it did not apply
        self._snapshot: ConfigSnapshot | None = None

    def apply(self, offset: int, record: ConfigRecord | None, topic_key: str) -> bool:
        """Fold one record (None: a tombstone); True if it changed the state."""
        self.offset = offset + 1
        if record is None:
            kind, _, key = topic_key.partition(":")
            self._current.pop((kind, key), None)
            return False
        problems = self._problems(record)
        if problems:
            self.rejected[offset] = problems
            return False
        parsed = self._parse(record)
        self._current[(record.kind, record.key)] = Applied(record, offset, parsed)
        if record.kind in CONFIG_KINDS:
            self._snapshot = None
        return True

    def current(self, kind: str, key: str) -> Applied | None:
        applied = self._current.get((kind, key))
        return applied if applied and applied.record.definition is not None else None

    def version_of(self, kind: str, key: str) -> int:
        applied = self._current.get((kind, key))
        return applied.record.version if applied else 0

    def records(self, kind: str) -> list[Applied]:
        return sorted((a for (k, _), a in self._current.items()
                       if k == kind and a.record.definition is not None),
                      key=lambda a: a.record.key)

    def config(self) -> Config:
        return self._config(self._current)

    def snapshot(self) -> ConfigSnapshot:
        """The snapshot of this state (built once per change)."""
        if self._snapshot is None or self._snapshot.version != self.offset:
            self._snapshot = ConfigSnapshot.build(self.config(), version=self.offset)
        return self._snapshot

    def _problems(self, record: ConfigRecord) -> list[Problem]:
        expected = self.version_of(record.kind, record.key) + 1
        if record.version != expected:
            return [Problem(f"{record.kind} {record.key!r}", "version",
                            f"stale write: expected version {expected}, got {record.version}")]
        return self.check(record)

    def check(self, record: ConfigRecord) -> list[Problem]:
        """Every problem the configuration would have with `record` in it."""
        if record.kind not in CONFIG_KINDS:
            return []
        try:
            parsed = self._parse(record)
        except ConfigError as exc:
            return exc.problems
        candidate = dict(self._current)
        candidate[(record.kind, record.key)] = Applied(record, -1, parsed)
        return validate_config(self._config(candidate))

    @staticmethod
    def _parse(record: ConfigRecord) -> Experiment | Layer | Holdout | None:
        if record.definition is None or record.kind == CHANGE_KIND:
            return None
        section = {"experiment": "experiments", "layer": "layers"}.get(record.kind)
        document = {section: [record.definition]} if section else {"holdout": record.definition}
        config, problems = parse_config(document)
        if problems:
            raise ConfigError(problems)
        if record.kind == "experiment":
            return config.experiments[0]
        return config.layers[0] if record.kind == "layer" else config.holdout

    @staticmethod
    def _config(current: dict[tuple[str, str], Applied]) -> Config:
        parsed = {kind: [a.parsed for (k, _), a in sorted(current.items())
                         if k == kind and a.parsed is not None] for kind in CONFIG_KINDS}
        holdouts = parsed["holdout"]
        return Config(tuple(parsed["experiment"]), tuple(parsed["layer"]),  # type: ignore[arg-type]
                      holdouts[0] if holdouts else None)  # type: ignore[arg-type]
