"""configs/prometheus/alerts.yml: valid rules over metrics the workers export, each
with a summary and a runbook that exists in docs/operations.md."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from prometheus_client.metrics import MetricWrapperBase

from agents import metrics

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "configs" / "prometheus" / "alerts.yml"
GUIDE = ROOT / "docs" / "operations.md"
# Exported by the worker's lag monitor, and by Prometheus itself for every target.
OTHER_METRICS = {"abstream_consumer_lag_messages", "up"}
PROMQL_WORDS = {"and", "or", "unless", "by", "without", "on", "ignoring", "group_left",
                "group_right", "bool", "offset"}
SUFFIXES = {"counter": ("_total", "_created"), "histogram": ("_bucket", "_sum", "_count"),
            "summary": ("_sum", "_count")}


def exported_metrics() -> set[str]:
    """Every sample name agents/metrics.py can export."""
    names = set(OTHER_METRICS)
    for value in vars(metrics).values():
        if isinstance(value, MetricWrapperBase):
            for family in value.describe():
                names.add(family.name)
                names.update(family.name + suffix for suffix in SUFFIXES.get(family.type, ()))
    return names


def metric_names(expr: str) -> set[str]:
    """The metric names an expression reads (not its functions, keywords or labels)."""
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)  # label values
    expr = re.sub(r"\{[^}]*\}", "", expr)  # label matchers
    expr = re.sub(r"\[[^\]]*\]", "", expr)  # ranges
    expr = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    names = set()
    for match in re.finditer(r"(?<![\w.])[A-Za-z_:][\w:]*", expr):
        following = expr[match.end():].lstrip()
        if match.group() not in PROMQL_WORDS and not following.startswith("("):
            names.add(match.group())
    return names


def anchors(markdown: str) -> set[str]:
    """GitHub's anchors of the headings."""
    found = set()
    for heading in re.findall(r"^#{1,6}\s+(.+?)\s*$", markdown, flags=re.MULTILINE):
        slug = re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")
        found.add(slug)
    return found


def rules() -> list[dict]:
    document = yaml.safe_load(RULES.read_text())
    return [rule for group in document["groups"] for rule in group["rules"]]


def test_the_name_parser_finds_metrics_only() -> None:
    expr = ('sum by (topic) (rate(abstream_x_total{job=~"a.*"}[5m])) / '
            "clamp_min(max without (instance) (up), 1) > 1e3 and on (topic) abstream_y")
    assert metric_names(expr) == {"abstream_x_total", "up", "abstream_y"}


def test_every_rule_is_well_formed() -> None:
    found = rules()
    assert found
    names = [rule["alert"] for rule in found]
    assert len(names) == len(set(names))
    for rule in found:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule["alert"]
        assert rule["labels"]["severity"] in ("critical", "warning", "info")
        if "for" in rule:
            assert re.fullmatch(r"\d+[smh]", rule["for"]), rule["alert"]
        assert rule["expr"].count("(") == rule["expr"].count(")"), rule["alert"]


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_expression_reads_exported_metrics(rule: dict) -> None:
    used = metric_names(rule["expr"])
    assert used, rule["expr"]
    assert used <= exported_metrics(), used - exported_metrics()


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_rule_has_a_summary_and_a_runbook_in_the_guide(rule: dict) -> None:
    annotations = rule["annotations"]
    assert annotations["summary"].strip()
    page, _, anchor = annotations["runbook_url"].partition("#")
    assert page == "docs/operations.md" and anchor
    assert anchor in anchors(GUIDE.read_text()), f"no heading for #{anchor}"


def test_the_alerts_cover_what_operators_must_hear_about() -> None:
    read = set().union(*(metric_names(rule["expr"]) for rule in rules()))
    assert {"up", "abstream_consumer_lag_messages", "abstream_srm_mismatch",
            "abstream_dead_letters_total", "abstream_sink_errors_total",
            "abstream_sink_lag_seconds"} <= read
