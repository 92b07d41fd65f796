"""Semantic checks of a parsed configuration; every problem is reported, none raised early."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from datetime import UTC, datetime

from experiments.allocation import target_counts
from experiments.conditions import validate_condition
from experiments.documents import experiment_document
from experiments.errors import Problem
from experiments.hashing import BUCKETS
from experiments.limits import (
    KEY,
    KEY_RULE,
    MAX_DEPTH,
    MAX_DESCRIPTION,
    MAX_EXPERIMENT_BYTES,
    MAX_METRICS,
    MAX_NAME,
    MAX_OVERRIDES,
    MAX_PAYLOAD,
    MAX_PHASE,
    MAX_PHASES,
    MAX_SPANS,
    MAX_UNIT_ID,
    MAX_VARIANTS,
    MAX_VERSION,
    depth_exceeds,
    finite_json,
    json_size,
    text_problem,
)
from experiments.model import Config, Experiment, MetricKind, Status
from experiments.ramp_validation import guardrail_problems, phase_problems, ramp_problems

MAX_DIMENSIONS = 10
WEIGHT_TOLERANCE = 1e-6
_RESERVED_SALT_PREFIXES = ("holdout:", "layer:")


def validate_config(config: Config) -> list[Problem]:
    problems = [p for e in config.experiments for p in validate_experiment(e)]
    return problems + validate_relations(config)


def validate_relations(config: Config) -> list[Problem]:
    """What no experiment shows alone: duplicate keys, layers and their slots, the holdout.

    A change to one experiment needs only its own `validate_experiment` and these."""
    problems = _duplicates("config", "experiments", [e.key for e in config.experiments])
    problems += _duplicates("config", "layers", [layer.key for layer in config.layers])
    problems += _check_layers(config)
    if config.holdout is not None and not 0 <= config.holdout.percent <= 100:
        problems.append(Problem("holdout", "percent", "must be between 0 and 100"))
    if config.holdout is not None and (reason := text_problem(config.holdout.salt, MAX_NAME)):
        problems.append(Problem("holdout", "salt", reason))
    return problems


def validate_experiment(experiment: Experiment) -> list[Problem]:
    owner = f"experiment {experiment.key!r}"
    found = [
        Problem(owner, path, reason)
        for check in (_identity, _variants, _lifecycle, _allocation, _targeting, _metrics,
                      _sizes, ramp_problems, guardrail_problems, phase_problems)
        for path, reason in check(experiment)
    ]
    if not found:  # only a sound experiment can be written out; the whole must fit a message
        found += [Problem(owner, "(whole experiment)", reason) for reason in _total(experiment)]
    return found


def _total(e: Experiment) -> Iterable[str]:
    size = json_size(experiment_document(e))
    if size is None:
        yield "holds text that is not valid Unicode"
    elif size > MAX_EXPERIMENT_BYTES:
        yield f"{size:,} bytes as JSON; at most {MAX_EXPERIMENT_BYTES:,}"


def _sizes(e: Experiment) -> Iterable[tuple[str, str]]:
    """Bounds that keep one experiment far below Kafka's 1 MB message (see limits.py)."""
    if reason := text_problem(e.description, MAX_DESCRIPTION):
        yield "description", reason
    counts = [("variants", e.variants, MAX_VARIANTS), ("metrics", e.metrics, MAX_METRICS),
              ("overrides", e.overrides, MAX_OVERRIDES), ("phases", e.phases, MAX_PHASES),
              ("layer_slots", e.layer_slots, MAX_SPANS)]
    counts += [(f"ranges.{key}", spans, MAX_SPANS) for key, spans in e.ranges.items()]
    for path, items, limit in counts:
        if len(items) > limit:
            yield path, f"at most {limit:,} entries, not {len(items):,}"
    for user in list(e.overrides)[:MAX_OVERRIDES]:
        if reason := text_problem(user, MAX_UNIT_ID):
            yield f"overrides.{str(user)[:40]}", f"the user id {reason}"
    for i, variant in enumerate(e.variants[:MAX_VARIANTS]):
        size = None if depth_exceeds(variant.config) else json_size(variant.config)
        if size is not None and size > MAX_PAYLOAD:
            yield f"variants[{i}].config", f"{size:,} bytes as JSON; at most {MAX_PAYLOAD:,}"
        elif size is not None and not finite_json(variant.config):
            # Served in every lookup answer: one NaN would make all of it invalid JSON.
            yield f"variants[{i}].config", "must hold finite numbers only (no NaN or Infinity)"


def _identity(e: Experiment) -> Iterable[tuple[str, str]]:
    if not KEY.fullmatch(e.key):
        yield "key", KEY_RULE
    if e.salt is not None and (not e.salt or e.salt.startswith(_RESERVED_SALT_PREFIXES)):
        yield "salt", "must be non-empty and must not start with 'holdout:' or 'layer:'"
    elif e.salt is not None and (reason := text_problem(e.salt, MAX_NAME)):
        yield "salt", reason
    if e.layer is not None and not KEY.fullmatch(e.layer):
        yield "layer", f"not a valid layer key: {KEY_RULE}"
    if not 1 <= e.version <= MAX_VERSION:
        yield "version", f"must be between 1 and {MAX_VERSION}"


def _variants(e: Experiment) -> Iterable[tuple[str, str]]:
    if len(e.variants) < 2:
        yield "variants", "an experiment needs at least two variants (the first is the control)"
    for i, variant in enumerate(e.variants):
        if not KEY.fullmatch(variant.key):
            yield f"variants[{i}].key", "not a valid variant key"
        if not math.isfinite(variant.weight):
            yield f"variants[{i}].weight", f"must be a finite number, not {variant.weight}"
        elif variant.weight <= 0:
            yield f"variants[{i}].weight", "must be greater than 0"
        if depth_exceeds(variant.config):
            yield f"variants[{i}].config", f"nests more than {MAX_DEPTH} deep"
    for key, count in Counter(v.key for v in e.variants).items():
        if count > 1:
            yield "variants", f"duplicate variant key {key!r}"
    total = sum(v.weight for v in e.variants)
    if e.variants and abs(total - 100) > WEIGHT_TOLERANCE:
        yield "variants", f"weights must sum to 100, not {total:g}"


def _lifecycle(e: Experiment) -> Iterable[tuple[str, str]]:
    keys = {v.key for v in e.variants}
    if e.shipped_variant is not None:
        if e.status is not Status.CONCLUDED:
            yield "shipped_variant", "only a concluded experiment ships a variant"
        elif e.shipped_variant not in keys:
            yield "shipped_variant", f"{e.shipped_variant!r} is not among the variants"
    for user, variant in e.overrides.items():
        if variant not in keys:
            yield f"overrides.{user}", f"{variant!r} is not among the variants"
    if e.start and e.end and _utc(e.end) <= _utc(e.start):
        yield "end", "must be after start"
    numbers = [phase.number for phase in e.phases]
    for i, number in enumerate(numbers):
        if not 1 <= number <= MAX_PHASE:  # exposures carry the phase as a 32-bit int
            yield f"phases[{i}].number", f"must be between 1 and {MAX_PHASE}, not {number}"
    if numbers != sorted(set(numbers)):
        yield "phases", "phase numbers must increase"


def _allocation(e: Experiment) -> Iterable[tuple[str, str]]:
    if not 0 <= e.coverage <= 100:
        yield "coverage", "must be between 0 and 100 percent"
    yield from _span_problems("layer_slots", e.layer_slots)
    unknown = set(e.ranges) - {v.key for v in e.variants}
    for key in sorted(unknown):
        yield f"ranges.{key}", "not among the variants"
    yield from _span_problems("ranges", [s for spans in e.ranges.values() for s in spans])
    weights_ok = e.variants and all(v.weight > 0 for v in e.variants)
    if weights_ok and 0 <= e.coverage <= 100 and not unknown:
        expected = target_counts(e.weights, e.coverage)
        for key, want in expected.items():
            have = sum(high - low + 1 for low, high in e.ranges.get(key, ()))
            if have != want:
                yield f"ranges.{key}", f"holds {have} buckets; weight and coverage give {want}"


def _span_problems(path: str, spans: Iterable[tuple[int, int]]) -> Iterable[tuple[str, str]]:
    ordered = sorted(spans)
    for low, high in ordered:
        if not 0 <= low <= high < BUCKETS:
            yield path, f"[{low}, {high}] is not within [0, {BUCKETS - 1}] with first <= last"
    reach = -1
    for low, high in ordered:
        if low <= reach:
            yield path, f"ranges overlap at bucket {low}"
        reach = max(reach, high)


def _targeting(e: Experiment) -> Iterable[tuple[str, str]]:
    if e.targeting is not None:
        yield from validate_condition(e.targeting)


def _metrics(e: Experiment) -> Iterable[tuple[str, str]]:
    for key, count in Counter(m.key for m in e.metrics).items():
        if count > 1:
            yield "metrics", f"duplicate metric key {key!r}"
    for i, metric in enumerate(e.metrics):
        path = f"metrics[{i}]"
        if not KEY.fullmatch(metric.key):
            yield f"{path}.key", "not a valid metric key"
        if metric.kind is MetricKind.RATIO:
            for side in ("numerator", "denominator"):
                part = getattr(metric, side)
                if part is None:
                    yield f"{path}.{side}", "a ratio metric needs a numerator and a denominator"
                elif part.kind not in (MetricKind.COUNT, MetricKind.SUM):
                    yield f"{path}.{side}.kind", "must be count or sum"
                elif not part.event:
                    yield f"{path}.{side}.event", "is required"
                elif not KEY.fullmatch(part.event):
                    yield f"{path}.{side}.event", f"not a valid event name: {KEY_RULE}"
        elif not metric.event:
            yield f"{path}.event", f"a {metric.kind.value} metric needs an event name"
        elif not KEY.fullmatch(metric.event):
            yield f"{path}.event", f"not a valid event name: {KEY_RULE}"
    for i, name in enumerate(e.dimensions):
        if not isinstance(name, str) or not KEY.fullmatch(name):
            yield f"dimensions[{i}]", "must be an attribute name: letters, digits, . _ -"
    for name, count in Counter(d for d in e.dimensions if isinstance(d, str)).items():
        if count > 1:
            yield "dimensions", f"duplicate dimension {name!r}"
    if len(e.dimensions) > MAX_DIMENSIONS:
        yield "dimensions", f"at most {MAX_DIMENSIONS} dimensions"
    if not math.isfinite(e.conversion_window_hours):
        yield "conversion_window_hours", f"must be a finite number, not {e.conversion_window_hours}"
    elif e.conversion_window_hours <= 0:
        yield "conversion_window_hours", "must be greater than 0"


def _check_layers(config: Config) -> list[Problem]:
    declared = {layer.key for layer in config.layers}
    problems = [Problem(f"layer {layer.key!r}", "key", KEY_RULE)
                for layer in config.layers if not KEY.fullmatch(layer.key)]
    problems += [Problem(f"layer {layer.key!r}", "description", reason)
                 for layer in config.layers
                 if (reason := text_problem(layer.description, MAX_DESCRIPTION))]
    own_layers = {e.key for e in config.experiments if e.layer is None}
    problems += [
        Problem(f"experiment {e.key!r}", "layer", f"unknown layer {e.layer!r}")
        for e in config.experiments if e.layer is not None and e.layer not in declared
    ]
    problems += [
        Problem(f"layer {key!r}", "key", "clashes with an experiment's own default layer")
        for key in sorted(declared & own_layers)
    ]
    by_layer: dict[str, list[Experiment]] = {}
    for e in config.experiments:
        by_layer.setdefault(e.layer_key, []).append(e)
    for key, members in by_layer.items():
        problems += _slot_overlaps(key, members)
    return problems


def _slot_overlaps(layer: str, members: list[Experiment]) -> list[Problem]:
    problems, reach, holder = [], -1, ""
    for low, high, key in sorted((lo, hi, e.key) for e in members for lo, hi in e.layer_slots):
        if low <= reach and key != holder:
            reason = f"experiments {holder!r} and {key!r} both own bucket {low}"
            problems.append(Problem(f"layer {layer!r}", "slots", reason))
        if high > reach:
            reach, holder = high, key
    return problems


def _duplicates(owner: str, field: str, keys: list[str]) -> list[Problem]:
    return [Problem(owner, field, f"duplicate key {key!r}")
            for key, count in Counter(keys).items() if count > 1]


def _utc(moment: datetime) -> datetime:
    """A time without a zone read as UTC, so times with and without one compare."""
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
