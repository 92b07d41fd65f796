"""Chart geometry for the console's server-drawn SVG (pure: numbers in, shapes out).

The templates draw the shapes; every label goes through the template's escaping.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from experiments.hashing import BUCKETS

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#b279a2", "#e45756", "#72b7b2", "#eeca3b",
           "#9d755d")


def color(index: int) -> str:
    return PALETTE[index % len(PALETTE)]


@dataclass(frozen=True)
class Bar:
    x: float
    width: float
    label: str
    fill: str
    title: str


def bucket_bars(owners: Sequence[tuple[str, Sequence[Sequence[int]]]], width: float,
                free_fill: str | None = None) -> list[Bar]:
    """Rectangles for bucket ranges of 0 … 9,999 on a bar `width` wide, one colour per owner."""
    bars = []
    for index, (owner, spans) in enumerate(owners):
        for low, high in spans:
            fill = free_fill if free_fill and owner == "" else color(index)
            bars.append(Bar(low / BUCKETS * width, (high - low + 1) / BUCKETS * width,
                            owner, fill, f"{owner or 'free'}: buckets {low}–{high}"))
    return sorted(bars, key=lambda bar: bar.x)


@dataclass(frozen=True)
class ForestRow:
    y: float
    label: str
    point: float | None  # x of the estimate
    fixed: tuple[float, float] | None  # x of the fixed-horizon interval's ends
    always_valid: tuple[float, float] | None
    significant: bool


@dataclass(frozen=True)
class Forest:
    rows: list[ForestRow]
    zero: float
    ticks: list[tuple[float, str]]
    height: float


def forest(comparisons: Sequence[Mapping[str, Any]], left: float, width: float,
           row_height: float = 28) -> Forest:
    """Lifts with their fixed-horizon and always-valid intervals on one shared axis."""
    values = [0.0]
    for c in comparisons:
        for name in ("lift_ci", "lift_ci_always_valid"):
            values += [v for v in (c.get(name) or []) if v is not None and math.isfinite(v)]
    low, high = min(values), max(values)
    pad = (high - low) * 0.05 or 0.01
    low, high = low - pad, high + pad

    def x(value: float | None) -> float | None:
        if value is None or not math.isfinite(value):
            return None
        return left + (value - low) / (high - low) * width

    def ends(interval: Sequence[float | None] | None) -> tuple[float, float] | None:
        if not interval:
            return None
        a = x(interval[0]) if interval[0] is not None else left
        b = x(interval[1]) if interval[1] is not None else left + width
        return (a, b) if a is not None and b is not None else None

    rows = [ForestRow(20 + i * row_height, f"{c['metric']} · {c['variant']}", x(c.get("lift")),
                      ends(c.get("lift_ci")), ends(c.get("lift_ci_always_valid")),
                      bool(c.get("significant")))
            for i, c in enumerate(comparisons)]
    ticks = [(x(t) or left, f"{t:+.0%}" if abs(high - low) > 0.1 else f"{t:+.1%}")
             for t in _ticks(low, high)]
    return Forest(rows, x(0.0) or left, ticks, 40 + len(rows) * row_height)


@dataclass(frozen=True)
class Line:
    label: str
    points: str  # "x,y x,y …" for a polyline
    fill: str
    band: str | None = None  # "x,y …" polygon of an interval around the line


@dataclass(frozen=True)
class LineChart:
    lines: list[Line]
    y_ticks: list[tuple[float, str]]
    x_labels: list[tuple[float, str]]
    zero: float | None


def line_chart(labels: Sequence[str], series: Mapping[str, Sequence[float | None]],
               bands: Mapping[str, Sequence[tuple[float | None, float | None]]] | None,
               box: tuple[float, float, float, float], percent: bool = False) -> LineChart:
    """Series over the points `labels`, in the box (left, top, width, height)."""
    left, top, width, height = box
    values = [v for s in series.values() for v in s if v is not None and math.isfinite(v)]
    for band in (bands or {}).values():  # the latest interval sets the scale; early ones,
        # wide on few users, are cut at its edges
        values += [v for v in band[-1] if v is not None and math.isfinite(v)] if band else []
    low, high = (min(values), max(values)) if values else (0.0, 1.0)
    if percent:
        low, high = min(low, 0.0), max(high, 0.0)
    if high == low:
        high = low + 1.0

    def xy(index: int, value: float) -> str:
        value = min(max(value, low), high)
        step = width / max(len(labels) - 1, 1)
        y = top + height - (value - low) / (high - low) * height
        return f"{left + index * step:.1f},{y:.1f}"

    lines = []
    for i, (name, values_) in enumerate(series.items()):
        points = " ".join(xy(j, v) for j, v in enumerate(values_)
                          if v is not None and math.isfinite(v))
        band = None
        if bands and name in bands:
            pairs = [(j, lo, hi) for j, (lo, hi) in enumerate(bands[name])
                     if lo is not None and hi is not None]
            if pairs:
                band = " ".join([*(xy(j, hi) for j, _, hi in pairs),
                                 *(xy(j, lo) for j, lo, _ in reversed(pairs))])
        lines.append(Line(name, points, color(i), band))
    fmt = (lambda t: f"{t:+.0%}") if percent else (lambda t: f"{t:,.0f}")
    y_ticks = [(top + height - (t - low) / (high - low) * height, fmt(t))
               for t in _ticks(low, high)]
    every = max(1, math.ceil(len(labels) / 6))
    step = width / max(len(labels) - 1, 1)
    x_labels = [(left + i * step, label) for i, label in enumerate(labels) if i % every == 0]
    zero = (top + height - (0 - low) / (high - low) * height) if low <= 0 <= high else None
    return LineChart(lines, y_ticks, x_labels, zero)


def _ticks(low: float, high: float, count: int = 5) -> list[float]:
    """Round values between `low` and `high`, about `count` of them."""
    raw = (high - low) / count
    magnitude = 10 ** math.floor(math.log10(raw)) if raw > 0 else 1
    step = next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step) + 1)]
