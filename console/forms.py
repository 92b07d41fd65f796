"""The console's forms as API documents, and API problems back to the fields (pure).

An action form (`patch_of`) becomes the same PATCH body the API takes; a draft form
(`draft_of`) the same experiment document POST /experiments takes. The API's
validation then decides, and `problems_by_field` places each of its problems next
to the form field it names.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from api.http import parse_json

ACTIONS = {
    "activate": "Activate", "pause": "Pause", "kill": "Kill (roll back to control)",
    "ramp": "Ramp coverage", "reweight": "Re-weight variants",
    "conclude": "Conclude, shipping a variant",
}
ALLOWED = {  # which actions each status offers
    "draft": ("activate",), "active": ("pause", "ramp", "reweight", "conclude", "kill"),
    "paused": ("activate", "ramp", "reweight", "conclude", "kill"), "concluded": (),
}
DRAFT_FIELDS = ("key", "description", "layer", "layer_slots", "coverage", "variants",
                "metrics", "dimensions", "targeting", "conversion_window_hours",
                "requires_approval")


class FormError(ValueError):
    def __init__(self, problems: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {', '.join(v)}" for k, v in problems.items()))
        self.problems = problems


def patch_of(action: str, form: Mapping[str, str], experiment: Mapping[str, Any],
             ) -> dict[str, Any]:
    """The PATCH body of an action on `experiment` (its document, as GET returns it)."""
    if action not in ALLOWED.get(experiment.get("status", ""), ()):
        raise FormError({"action": [f"{action!r} is not possible while the experiment is "
                                    f"{experiment.get('status')}"]})
    if action == "activate":
        return {"status": "active"}
    if action == "pause":
        return {"status": "paused"}
    if action == "kill":
        return {"status": "concluded", "shipped_variant": None}
    if action == "conclude":
        shipped = form.get("shipped_variant", "")
        if shipped not in {v["key"] for v in experiment["variants"]}:
            raise FormError({"shipped_variant": ["choose one of the experiment's variants"]})
        return {"status": "concluded", "shipped_variant": shipped}
    if action == "ramp":
        return {"coverage": _number(form, "coverage")}
    variants = [{**v, "weight": _number(form, f"weight.{v['key']}")}
                for v in experiment["variants"]]
    return {"variants": variants}


def action_fields(action: str, form: Mapping[str, str]) -> dict[str, str]:
    """The form fields an action reads, to carry from its preview to its confirmation."""
    keep = {"ramp": ("coverage",), "conclude": ("shipped_variant",)}.get(action, ())
    return {k: v for k, v in form.items()
            if k in keep or (action == "reweight" and k.startswith("weight."))}


def draft_of(form: Mapping[str, str]) -> dict[str, Any]:
    """An experiment document from the draft form; FormError for what cannot be read."""
    document: dict[str, Any] = {}
    problems: dict[str, list[str]] = {}

    def read(name: str, parse: Any) -> None:
        raw = form.get(name, "").strip()
        if not raw:
            return
        try:
            document[name] = parse(raw)
        except ValueError as exc:
            problems.setdefault(name, []).append(str(exc))

    for name in ("key", "description", "layer"):
        if form.get(name, "").strip():
            document[name] = form[name].strip()
    read("coverage", _float)
    read("conversion_window_hours", _float)
    read("layer_slots", _spans)
    read("variants", _variants)
    read("metrics", _metrics)
    read("dimensions", lambda raw: [d.strip() for d in raw.split(",") if d.strip()])
    read("targeting", _json_object)
    if form.get("requires_approval"):
        document["requires_approval"] = True
    if problems:
        raise FormError(problems)
    return document


def draft_form(document: Mapping[str, Any]) -> dict[str, str]:
    """The draft form's fields for an existing draft (the reverse of `draft_of`)."""
    return {
        "key": document.get("key", ""), "description": document.get("description", ""),
        "layer": document.get("layer") or "",
        "layer_slots": ", ".join(f"{a}-{b}" for a, b in document.get("layer_slots") or []),
        "coverage": _text(document.get("coverage")),
        "conversion_window_hours": _text(document.get("conversion_window_hours")),
        "variants": "\n".join(f"{v['key']} {v.get('weight', '')}".strip()
                              for v in document.get("variants") or []),
        "metrics": "\n".join(_metric_line(m) for m in document.get("metrics") or []),
        "dimensions": ", ".join(document.get("dimensions") or []),
        "targeting": json.dumps(document["targeting"]) if document.get("targeting") else "",
        "requires_approval": "on" if document.get("requires_approval") else "",
    }


def problems_by_field(details: list[str], fields: tuple[str, ...] = DRAFT_FIELDS,
                      ) -> tuple[dict[str, list[str]], list[str]]:
    """The API's problems ("experiment 'x': variants[1].weight: must be …") by form field;
    those of no field on the form apart."""
    placed: dict[str, list[str]] = {}
    elsewhere = []
    for detail in details:
        parts = detail.split(": ", 2)
        path = parts[1] if len(parts) == 3 else ""
        name = path.split(".")[0].split("[")[0]
        if name in fields:
            placed.setdefault(name, []).append(f"{path}: {parts[2]}" if path != name
                                               else parts[2])
        else:
            elsewhere.append(detail)
    return placed, elsewhere


def _number(form: Mapping[str, str], name: str) -> float:
    try:
        return _float(form.get(name, ""))
    except ValueError as exc:
        raise FormError({name: [str(exc)]}) from None


def _float(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"{raw!r} is not a number") from None
    return int(value) if value.is_integer() else value


def _text(value: Any) -> str:
    return "" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def _spans(raw: str) -> list[list[int]]:
    spans = []
    for part in filter(None, (p.strip() for p in raw.split(","))):
        low, sep, high = part.partition("-")
        try:
            spans.append([int(low), int(high if sep else low)])
        except ValueError:
            raise ValueError(f"{part!r}: write slot ranges as 0-4999, 6000-6999") from None
    return spans


def _variants(raw: str) -> list[dict[str, Any]]:
    variants = []
    for line in filter(None, (line.strip() for line in raw.splitlines())):
        key, _, weight = line.partition(" ")
        variants.append({"key": key, "weight": _float(weight.strip() or "1")})
    return variants


def _metrics(raw: str) -> list[dict[str, Any]]:
    """One per line: ``key kind event`` (conversion, count, sum), or a JSON object."""
    metrics = []
    for line in filter(None, (line.strip() for line in raw.splitlines())):
        if line.startswith("{"):
            metrics.append(_json_object(line))
            continue
        words = line.split()
        if len(words) != 3:
            raise ValueError(f"{line!r}: write 'key kind event', e.g. 'buy_rate conversion "
                             "purchase', or a JSON object")
        metrics.append({"key": words[0], "kind": words[1], "event": words[2]})
    return metrics


def _metric_line(metric: Mapping[str, Any]) -> str:
    if set(metric) <= {"key", "kind", "event"} and len(metric) == 3:
        return f"{metric['key']} {metric['kind']} {metric['event']}"
    return json.dumps(metric)


def _json_object(raw: str) -> dict[str, Any]:
    value = parse_json(raw)
    if not isinstance(value, dict):
        raise ValueError("must be a JSON object")
    return value
