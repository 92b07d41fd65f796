from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from experiments import ConfigError, load_config_file, load_config_text

REPO = Path(__file__).parents[2]


def experiment(**changes: Any) -> dict[str, Any]:
    doc = {"key": "exp", "status": "active",
           "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]}
    doc.update(changes)
    return doc


def problems_of(doc: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as raised:
        load_config_text(json.dumps(doc))
    return [str(problem) for problem in raised.value.problems]


def test_the_demo_config_is_valid() -> None:
    config = load_config_file(REPO / "configs" / "demo.yaml")
    assert [e.key for e in config.experiments] == [
        "checkout_button_color", "one_click_checkout", "search_ranking_v2"
    ]


def test_all_problems_are_reported_at_once() -> None:
    doc = {"layers": [{"key": "checkout"}], "experiments": [
        experiment(key="one", variants=[{"key": "a", "weight": 60}, {"key": "a", "weight": 30}]),
        experiment(key="two", layer="checkout", layer_slots=[[0, 5999]],
                   targeting={"attribute": "x", "op": "like", "value": 1}),
        experiment(key="three", layer="checkout", layer_slots=[[5000, 9999]],
                   targeting={"attribute": "x", "op": "regex", "value": "(["}),
        experiment(key="four", status="concluded", shipped_variant="c"),
        experiment(key="four"),
    ]}
    found = problems_of(doc)
    expected = [
        "experiment 'one': variants: duplicate variant key 'a'",
        "experiment 'one': variants: weights must sum to 100, not 90",
        "experiment 'two': targeting.op: unknown operator 'like'",
        "experiment 'three': targeting.value: bad regular expression",
        "experiment 'four': shipped_variant: 'c' is not among the variants",
        "config: experiments: duplicate key 'four'",
        "layer 'checkout': slots: experiments 'two' and 'three' both own bucket 5000",
    ]
    for fragment in expected:
        assert any(fragment in line for line in found), (fragment, found)


@pytest.mark.parametrize(
    ("changes", "fragment"),
    [
        ({"variants": [{"key": "a", "weight": 100}]}, "at least two variants"),
        ({"variants": [{"key": "a", "weight": 0}, {"key": "b", "weight": 100}]},
         "variants[0].weight: must be greater than 0"),
        ({"variants": [{"key": "a", "weight": "half"}, {"key": "b", "weight": 50}]},
         "variants[0].weight: must be an integer or a number, got str"),
        ({"coverage": 120}, "coverage: must be between 0 and 100"),
        ({"status": "running"}, "status: 'running' is not one of draft, active"),
        ({"shipped_variant": "a"}, "only a concluded experiment ships a variant"),
        ({"overrides": {"qa": "c"}}, "overrides.qa: 'c' is not among the variants"),
        ({"layer": "nowhere"}, "layer: unknown layer 'nowhere'"),
        ({"layer_slots": [[9000, 10000]]}, "is not within [0, 9999]"),
        ({"salt": "layer:exp"}, "salt: must be non-empty and must not start with"),
        ({"key": "has space"}, "key: use 1-128 letters"),
        ({"ranges": {"a": [[0, 4999]], "b": [[4000, 9999]]}}, "ranges overlap at bucket 4000"),
        ({"ranges": {"a": [[0, 99]], "b": [[100, 199]]}}, "holds 100 buckets; weight and"),
        ({"metrics": [{"key": "m", "kind": "sum"}]}, "a sum metric needs an event name"),
        ({"metrics": [{"key": "m", "kind": "ratio", "numerator": {"event": "e"}}]},
         "metrics[0].denominator: a ratio metric needs a numerator and a denominator"),
        ({"start": "2026-02-01T00:00:00", "end": "2026-01-01T00:00:00"}, "end: must be after"),
        ({"start": "soon"}, "start: not an ISO 8601 time"),
        ({"conversion_window_hours": 0}, "conversion_window_hours: must be greater than 0"),
        ({"colour": "red"}, "colour: unknown field"),
    ],
)
def test_each_problem_names_the_experiment_field_and_reason(
    changes: dict[str, Any], fragment: str
) -> None:
    doc = {"experiments": [experiment(**changes)]}
    key = changes.get("key", "exp")
    found = problems_of(doc)
    assert any(fragment in line and line.startswith(f"experiment {key!r}") for line in found), (
        found
    )


def test_holdout_and_layer_problems() -> None:
    found = problems_of({
        "holdout": {"percent": 150},
        "layers": [{"key": "exp"}],
        "experiments": [experiment()],
    })
    assert "holdout: percent: must be between 0 and 100" in found
    assert "layer 'exp': key: clashes with an experiment's own default layer" in found


def test_yaml_and_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config_text("experiments: [unclosed")
    bad_json = tmp_path / "c.json"
    bad_json.write_text("experiments: []")
    with pytest.raises(ConfigError, match="not valid JSON"):
        load_config_file(bad_json)
    with pytest.raises(ConfigError, match=r"use a \.yaml, \.yml or \.json file"):
        load_config_file(tmp_path / "c.toml")
    with pytest.raises(ConfigError, match="cannot read"):
        load_config_file(tmp_path / "missing.yaml")


def test_json_and_yaml_give_the_same_config(tmp_path: Path) -> None:
    doc = {"experiments": [experiment(coverage=30, overrides={"qa": "b"})]}
    (tmp_path / "c.json").write_text(json.dumps(doc))
    (tmp_path / "c.yaml").write_text(json.dumps(doc))  # JSON is YAML
    assert load_config_file(tmp_path / "c.json") == load_config_file(tmp_path / "c.yaml")


def test_dimensions_must_be_distinct_attribute_names() -> None:
    problems = problems_of({"experiments": [
        experiment(dimensions=["platform", "platform", "not a name", "x" * 200])]})
    assert "experiment 'exp': dimensions: duplicate dimension 'platform'" in problems
    assert any(p.startswith("experiment 'exp': dimensions[2]:") for p in problems)
    assert any(p.startswith("experiment 'exp': dimensions[3]:") for p in problems)
    config = load_config_text(json.dumps({"experiments": [
        experiment(dimensions=["platform", "country"])]}))
    assert config.experiments[0].dimensions == ("platform", "country")
