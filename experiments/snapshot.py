"""The read path: an immutable, compiled configuration and `assign_all`, which never raises."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

import mmh3

from experiments.allocation import bucket_table
from experiments.errors import ConfigError
from experiments.hashing import BUCKETS, bucket, holdout_salt, layer_salt
from experiments.model import Config, Experiment, Status
from experiments.parsing import config_document
from experiments.targeting import Predicate, compile_condition
from experiments.validation import validate_config

MAX_UNIT_ID_LENGTH = 1024
murmur3 = mmh3.hash
_NOBODY = 255


class Reason(StrEnum):
    ASSIGNED = "assigned"  # enrolled by the hash
    OVERRIDE = "override"  # forced variant: exposure tagged, excluded from analysis
    HOLDOUT = "holdout"  # in the global holdout: no experiment at all
    TARGETED_OUT = "targeted-out"  # the targeting condition is false
    NOT_ENROLLED = "not-enrolled"  # outside the layer slots or the coverage
    PAUSED = "paused"
    CONCLUDED = "concluded"  # the shipped variant, or control when rolled back
    DRAFT = "draft"  # not served yet: control
    ERROR = "error"  # bad input or an internal error: control, and counted


@dataclass(frozen=True, slots=True)
class Assignment:
    experiment: str
    variant: str  # what to show: the assigned variant, else control (or the shipped one)
    phase: int
    reason: Reason
    version: int  # of the experiment's definition
    config: Mapping[str, Any]  # the variant's payload

    @property
    def enrolled(self) -> bool:
        """In the experiment, so an exposure is logged (overrides are tagged)."""
        return self.reason in (Reason.ASSIGNED, Reason.OVERRIDE)


@dataclass
class ReadStats:
    """Counters of the read path (mutable on purpose: shared by every lookup)."""

    errors: int = 0


class _Compiled:
    """One experiment, precomputed so that a lookup is a hash and a table index."""

    __slots__ = ("by_variant", "check_slot", "default", "experiment", "fixed", "forced", "key",
                 "layer", "layer_shared", "overrides", "predicate", "prefix", "slots", "table")

    def __init__(self, experiment: Experiment, layer_shared: bool) -> None:
        e = experiment
        self.experiment, self.key, self.layer_shared = e, e.key, layer_shared
        self.prefix = f"{e.variant_salt}:"  # hashing prefix + unit equals bucket(salt, unit)
        self.layer = layer_salt(e.layer_key)
        self.slots = _slot_table(e.layer_slots)
        # Alone in a layer that owns every slot, the slot hash cannot change the answer.
        self.check_slot = layer_shared or e.layer_slots != ((0, BUCKETS - 1),)
        self.table = bucket_table(e.ranges, [v.key for v in e.variants])
        self.predicate: Predicate | None = (
            compile_condition(e.targeting) if e.targeting is not None else None
        )
        self.overrides = dict(e.overrides)
        make = lambda variant, reason: Assignment(  # noqa: E731
            e.key, variant.key, e.phase, reason, e.version, variant.config
        )
        control = e.variants[0]
        self.by_variant = tuple(make(v, Reason.ASSIGNED) for v in e.variants)
        self.forced = {v.key: make(v, Reason.OVERRIDE) for v in e.variants}
        self.default = {reason: make(control, reason) for reason in Reason}
        shipped = next((v for v in e.variants if v.key == e.shipped_variant), control)
        self.default[Reason.CONCLUDED] = make(shipped, Reason.CONCLUDED)
        self.fixed = {  # what an experiment that is not running shows everyone
            Status.ACTIVE: None, Status.DRAFT: self.default[Reason.DRAFT],
            Status.PAUSED: self.default[Reason.PAUSED],
            Status.CONCLUDED: self.default[Reason.CONCLUDED],
        }[e.status]

    def assign(self, unit: str, attrs: Mapping[str, Any], held_out: bool,
               layer_buckets: dict[str, int]) -> Assignment:
        if self.fixed is not None:
            return self.fixed
        if self.overrides and unit in self.overrides:
            return self.forced[self.overrides[unit]]
        if held_out:
            return self.default[Reason.HOLDOUT]
        if self.predicate is not None and not self.predicate(attrs):
            return self.default[Reason.TARGETED_OUT]
        if self.check_slot:
            slot = layer_buckets.get(self.layer)
            if slot is None:
                slot = layer_buckets[self.layer] = bucket(self.layer, unit)
            if not self.slots[slot]:
                return self.default[Reason.NOT_ENROLLED]
        index = self.table[murmur3(self.prefix + unit, 0, False) % BUCKETS]
        if index == _NOBODY:
            return self.default[Reason.NOT_ENROLLED]
        return self.by_variant[index]


def _slot_table(spans: tuple[tuple[int, int], ...]) -> bytes:
    table = bytearray(BUCKETS)
    for low, high in spans:
        table[low : high + 1] = b"\x01" * (high - low + 1)
    return bytes(table)


@dataclass(frozen=True, eq=False)
class ConfigSnapshot:
    """A validated configuration at one version, compiled for lookups.

    Build one with `ConfigSnapshot.build(config, version)`; it raises `ConfigError`
    listing every problem. Draft experiments are kept but never served. A caller
    that validated `config` already (the config fold) passes `validated=True`.
    """

    config: Config
    version: int
    etag: str
    stats: ReadStats = field(default_factory=ReadStats)
    _served: tuple[_Compiled, ...] = ()
    _by_key: Mapping[str, _Compiled] = field(default_factory=dict)

    @classmethod
    def build(cls, config: Config, version: int = 1, validated: bool = False,
              previous: ConfigSnapshot | None = None) -> ConfigSnapshot:
        """`previous`: a snapshot whose compiled experiments are reused where unchanged
        (the same definition object, alone or not in its layer as before)."""
        problems = [] if validated else validate_config(config)
        if problems:
            raise ConfigError(problems)
        layer_sizes: dict[str, int] = {}
        for e in config.experiments:
            layer_sizes[e.layer_key] = layer_sizes.get(e.layer_key, 0) + 1
        reusable = previous._by_key if previous is not None else {}
        compiled = {}
        for e in config.experiments:
            shared = layer_sizes[e.layer_key] > 1
            old = reusable.get(e.key)
            compiled[e.key] = (old if old is not None and old.experiment is e
                               and old.layer_shared == shared else _Compiled(e, shared))
        document = json.dumps([version, config_document(config)], sort_keys=True, default=str)
        return cls(
            config=config,
            version=version,
            etag=f'"{hashlib.sha256(document.encode()).hexdigest()[:32]}"',
            _served=tuple(c for c in compiled.values() if c.experiment.status is not Status.DRAFT),
            _by_key=compiled,
        )

    def experiment(self, key: str) -> Experiment | None:
        compiled = self._by_key.get(key)
        return compiled.experiment if compiled else None

    def in_holdout(self, unit: str) -> bool:
        holdout = self.config.holdout
        if holdout is None or holdout.percent <= 0:
            return False
        return bucket(holdout_salt(holdout.salt), unit) < round(holdout.percent * BUCKETS / 100)


def assign_all(
    snapshot: ConfigSnapshot, user_id: Any, attributes: Mapping[str, Any] | None = None
) -> dict[str, Assignment]:
    """Every served (non-draft) experiment's assignment for one user. Never raises."""
    unit, attrs = _clean_inputs(snapshot, user_id, attributes)
    if unit is None:
        return {c.key: c.default[Reason.ERROR] for c in snapshot._served}
    held_out = snapshot.in_holdout(unit)
    layer_buckets: dict[str, int] = {}
    result = {}
    for compiled in snapshot._served:
        try:
            result[compiled.key] = compiled.assign(unit, attrs, held_out, layer_buckets)
        except Exception:  # the read path never raises: control, and counted
            snapshot.stats.errors += 1
            result[compiled.key] = compiled.default[Reason.ERROR]
    return result


def assign(
    snapshot: ConfigSnapshot, experiment: str, user_id: Any,
    attributes: Mapping[str, Any] | None = None,
) -> Assignment | None:
    """One experiment's assignment; None if the snapshot has no such experiment."""
    compiled = snapshot._by_key.get(experiment)
    if compiled is None:
        return None
    unit, attrs = _clean_inputs(snapshot, user_id, attributes)
    if unit is None:
        return compiled.default[Reason.ERROR]
    try:
        return compiled.assign(unit, attrs, snapshot.in_holdout(unit), {})
    except Exception:  # the read path never raises: control, and counted
        snapshot.stats.errors += 1
        return compiled.default[Reason.ERROR]


def _clean_inputs(
    snapshot: ConfigSnapshot, user_id: Any, attributes: Any
) -> tuple[str | None, Mapping[str, Any]]:
    """A usable unit id and attributes, or (None, {}) counted as an error."""
    user_id = _unit(user_id)
    if user_id is None:
        snapshot.stats.errors += 1
        return None, {}
    if attributes is None:
        return user_id, {}
    if not isinstance(attributes, Mapping):
        snapshot.stats.errors += 1
        return user_id, {}
    return user_id, attributes


def _unit(user_id: Any) -> str | None:
    """A plain str of 1 to MAX_UNIT_ID_LENGTH characters with a UTF-8 form, or None."""
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        return str(user_id)
    if not isinstance(user_id, str) or not user_id or len(user_id) > MAX_UNIT_ID_LENGTH:
        return None
    if type(user_id) is not str:
        user_id = str.__str__(user_id)  # a subclass could override what is checked below
    if not user_id.isascii():  # the common case skips the encoding
        try:
            user_id.encode()
        except UnicodeEncodeError:  # a lone surrogate: mmh3 would crash on it
            return None
    return user_id
