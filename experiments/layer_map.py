"""Who owns which slots of each layer, and which are free: the layers page's map (pure)."""

from __future__ import annotations

from typing import Any

from experiments.hashing import BUCKETS
from experiments.model import Config, Span


def layer_maps(config: Config) -> list[dict[str, Any]]:
    """Every declared layer: its experiments' slot ranges, in slot order, and the free ones."""
    maps = []
    for layer in config.layers:
        members = [e for e in config.experiments if e.layer == layer.key]
        owned = sorted(((list(span), e) for e in members for span in e.layer_slots),
                       key=lambda item: item[0])
        maps.append({
            "key": layer.key, "description": layer.description,
            "slots": [{"experiment": e.key, "status": e.status.value, "slots": span}
                      for span, e in owned],
            "free": [list(span) for span in free_spans([tuple(s) for s, _ in owned])],
        })
    return maps


def free_spans(owned: list[Span] | list[tuple[int, ...]]) -> list[Span]:
    """The slots of 0 … BUCKETS − 1 that no span of `owned` covers, as inclusive spans."""
    free, next_free = [], 0
    for low, high in sorted(owned):
        if low > next_free:
            free.append((next_free, low - 1))
        next_free = max(next_free, high + 1)
    if next_free < BUCKETS:
        free.append((next_free, BUCKETS - 1))
    return free
