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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from experiments import Config, ConfigSnapshot, Experiment, Holdout, Layer, parse_config
from experiments.errors import ConfigError, Problem
from experiments.validation import validate_experiment, validate_relations

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


@dataclass(frozen=True)
class Checked:
    """A definition parsed and validated against the state at `offset` (the next to read)."""

    kind: str
    key: str
    definition: dict[str, Any] | None
    parsed: Experiment | Layer | Holdout | None
    offset: int


class ConfigState:
    """Folds config records in log order; builds a snapshot once per change of the config.

    The single validation of a change is `check`: the admin calls it before writing,
    and the fold calls it for every record it reads, because anyone who can produce
    to the topic can write to the log. The fold skips it only for a record it was
    told about (`vouch`) whose check ran against exactly the state it is folded onto.
    """

    def __init__(self) -> None:
        self.offset = 0  # the next offset to read
        self.config_offset = 0  # after the last record that changed the config: its version
        self._current: dict[tuple[str, str], Applied] = {}
        self.rejected: dict[int, list[Problem]] = {}  # offset → why it did not apply
        self._snapshot: ConfigSnapshot | None = None
        self._built: ConfigSnapshot | None = None  # the last one built: its parts are reused
        self._vouched: Checked | None = None

    def apply(self, offset: int, record: ConfigRecord | None, topic_key: str) -> bool:
        """Fold one record (None: a tombstone); True if it changed the state."""
        vouched, self._vouched = self._vouched, None
        unchanged_since_check = vouched is not None and vouched.offset == self.offset
        self.offset = offset + 1
        if record is None:
            kind, _, key = topic_key.partition(":")
            self._changed(offset, self._current.pop((kind, key), None), None)
            return False
        if unchanged_since_check and vouched == _checked_as(record, vouched):
            parsed, problems = vouched.parsed, self._stale(record)
        else:
            parsed, problems = self._parsed_and_checked(record)
        if problems:
            self.rejected[offset] = problems
            return False
        applied = Applied(record, offset, parsed)
        self._changed(offset, self._current.get((record.kind, record.key)), applied)
        self._current[(record.kind, record.key)] = applied
        return True

    def vouch(self, checked: Checked) -> None:
        """The next record folded is `checked`'s, if nothing else comes first."""
        self._vouched = checked

    def check(self, record: ConfigRecord,
              canonical: Callable[[Any], dict[str, Any]] | None = None) -> Checked:
        """`record` parsed and validated with the whole configuration; `ConfigError` if not.

        Problems of form (types, unknown fields) and of meaning (weights, layers) come
        together. `canonical` writes the parsed definition out in full for the log.
        """
        parsed, problems = parse_record(record)
        if parsed is not None:
            problems += [p for p in self.problems_with(record, parsed) if p not in problems]
        if problems:
            raise ConfigError(problems)
        definition = canonical(parsed) if canonical and parsed else record.definition
        return Checked(record.kind, record.key, definition, parsed, self.offset)

    def problems_with(self, record: ConfigRecord, parsed: Any) -> list[Problem]:
        """Every problem the configuration would have with `record` (parsed) in it."""
        if record.kind not in CONFIG_KINDS:
            return []
        candidate = dict(self._current)
        candidate[(record.kind, record.key)] = Applied(record, -1, parsed)
        # The other experiments were validated as they were folded: only their relations
        # (keys, layers, slots) can change with this record.
        own = validate_experiment(parsed) if record.kind == "experiment" else []
        return own + validate_relations(self._config(candidate))

    def current(self, kind: str, key: str) -> Applied | None:
        applied = self._current.get((kind, key))
        return applied if applied and applied.record.definition is not None else None

    def version_of(self, kind: str, key: str) -> int:
        applied = self._current.get((kind, key))
        return applied.record.version if applied else 0

    def confirms(self, kind: str, key: str, version: int, time: int) -> bool:
        """Whether this version of a key, written at `time`, applied (or a later one did)."""
        applied = self._current.get((kind, key))
        if applied is None or applied.record.version < version:
            return False
        return applied.record.version > version or applied.record.time == time

    def records(self, kind: str) -> list[Applied]:
        return sorted((a for (k, _), a in self._current.items()
                       if k == kind and a.record.definition is not None),
                      key=lambda a: a.record.key)

    def config(self) -> Config:
        return self._config(self._current)

    def snapshot(self) -> ConfigSnapshot:
        """The snapshot of this state, built once per change of the configuration."""
        if self._snapshot is None:  # every applied record was validated by the fold
            self._snapshot = self._built = ConfigSnapshot.build(
                self.config(), version=self.config_offset, validated=True,
                previous=self._built)
        return self._snapshot

    def _changed(self, offset: int, before: Applied | None, after: Applied | None) -> None:
        """Only definitions change the configuration: pending changes keep its snapshot."""
        if any(a is not None and a.parsed is not None for a in (before, after)):
            self.config_offset = offset + 1
            self._snapshot = None

    def _stale(self, record: ConfigRecord) -> list[Problem]:
        expected = self.version_of(record.kind, record.key) + 1
        if record.version == expected:
            return []
        return [Problem(f"{record.kind} {record.key!r}", "version",
                        f"stale write: expected version {expected}, got {record.version}")]

    def _parsed_and_checked(self, record: ConfigRecord) -> tuple[Any, list[Problem]]:
        stale = self._stale(record)
        if stale:
            return None, stale
        try:
            return self.check(record).parsed, []
        except ConfigError as exc:
            return None, exc.problems

    @staticmethod
    def _config(current: dict[tuple[str, str], Applied]) -> Config:
        parsed = {kind: [a.parsed for (k, _), a in sorted(current.items())
                         if k == kind and a.parsed is not None] for kind in CONFIG_KINDS}
        holdouts = parsed["holdout"]
        return Config(tuple(parsed["experiment"]), tuple(parsed["layer"]),  # type: ignore[arg-type]
                      holdouts[0] if holdouts else None)  # type: ignore[arg-type]


def parse_record(record: ConfigRecord) -> tuple[Experiment | Layer | Holdout | None, list[Problem]]:
    """The model of a record's definition (None for changes and deletions), and its problems."""
    if record.definition is None or record.kind not in CONFIG_KINDS:
        return None, []
    section = {"experiment": "experiments", "layer": "layers"}.get(record.kind)
    document = {section: [record.definition]} if section else {"holdout": record.definition}
    config, problems = parse_config(document)
    if record.kind == "experiment":
        parsed = config.experiments[0] if config.experiments else None
    else:
        parsed = config.layers[0] if record.kind == "layer" else config.holdout
    if parsed is None and not problems:
        problems = [Problem(f"{record.kind} {record.key!r}", "key", "is required")]
    return parsed, problems


def _checked_as(record: ConfigRecord, vouched: Checked) -> Checked:
    return Checked(record.kind, record.key, record.definition, vouched.parsed, vouched.offset)
