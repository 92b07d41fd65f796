"""The model as JSON-ready documents: what `GET /config` serves and `parse_config` reads back."""

from __future__ import annotations

from typing import Any

from experiments.model import Config, Experiment, Metric
from experiments.ramp_documents import phase_document, ramp_fields

# Every [first, last] pair of `ranges` and `layer_slots` includes both end points:
# [0, 4999] holds 5,000 buckets. Served documents say so, for other implementations.
RANGE_CONVENTION = "inclusive"


def experiment_document(experiment: Experiment) -> dict[str, Any]:
    """A JSON-ready document that `parse_experiment` reads back to an equal experiment."""
    return {
        "key": experiment.key,
        "description": experiment.description,
        "status": experiment.status.value,
        "layer": experiment.layer,
        "layer_slots": [list(span) for span in experiment.layer_slots],
        "variants": [{"key": v.key, "weight": v.weight, "config": dict(v.config)}
                     for v in experiment.variants],
        "coverage": experiment.coverage,
        "ranges": {k: [list(s) for s in spans] for k, spans in experiment.ranges.items()},
        "targeting": experiment.targeting,
        "overrides": dict(experiment.overrides),
        "metrics": [_metric_document(metric) for metric in experiment.metrics],
        "dimensions": list(experiment.dimensions),
        "conversion_window_hours": experiment.conversion_window_hours,
        "start": experiment.start.isoformat() if experiment.start else None,
        "end": experiment.end.isoformat() if experiment.end else None,
        "salt": experiment.salt,
        "shipped_variant": experiment.shipped_variant,
        "phases": [phase_document(p) for p in experiment.phases],
        "version": experiment.version,
        "requires_approval": experiment.requires_approval,
        **ramp_fields(experiment),
    }


def _metric_document(metric: Metric) -> dict[str, Any]:
    doc: dict[str, Any] = {"key": metric.key, "kind": metric.kind.value}
    if metric.event is not None:
        doc["event"] = metric.event
    for side in ("numerator", "denominator"):
        part = getattr(metric, side)
        if part is not None:
            doc[side] = {"event": part.event, "kind": part.kind.value}
    return doc


def config_document(config: Config) -> dict[str, Any]:
    return {
        "range_convention": RANGE_CONVENTION,
        "holdout": ({"percent": config.holdout.percent, "salt": config.holdout.salt}
                    if config.holdout else None),
        "layers": [{"key": layer.key, "description": layer.description} for layer in config.layers],
        "experiments": [experiment_document(e) for e in config.experiments],
    }
