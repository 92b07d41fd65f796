"""Validation bounds what a configuration may hold: numbers, nesting and sizes."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from experiments import ConfigError, ConfigSnapshot, load_config_text, parse_config
from experiments.limits import MAX_CONDITIONS, MAX_DEPTH, MAX_EXPERIMENT_BYTES, MAX_PHASE
from experiments.validation import validate_config
from tests.experiments.test_validation import experiment


def problems_of(doc: dict[str, Any]) -> list[str]:
    """Every problem of a document, both as JSON text and as an already parsed document."""
    with pytest.raises(ConfigError) as raised:
        load_config_text(json.dumps(doc))
    from_text = [str(problem) for problem in raised.value.problems]
    config, problems = parse_config(doc)
    assert [str(p) for p in problems + validate_config(config)] == from_text
    return from_text


def nested_nots(depth: int) -> dict[str, Any]:
    condition: dict[str, Any] = {"attribute": "a", "op": "eq", "value": "x"}
    for _ in range(depth):
        condition = {"not": condition}
    return condition


def test_deeply_nested_targeting_is_a_problem_with_its_path() -> None:
    found = problems_of({"experiments": [experiment(targeting=nested_nots(500))]})
    path = "targeting" + ".not" * MAX_DEPTH
    assert found == [f"experiment 'exp': {path}: conditions nest at most {MAX_DEPTH} deep"]
    config, _ = parse_config({"experiments": [experiment(targeting=nested_nots(5000))]})
    with pytest.raises(ConfigError, match="nest at most"):
        ConfigSnapshot.build(config)


def test_too_many_conditions_in_one_tree_is_a_problem() -> None:
    wide = {"any": [{"attribute": "a", "op": "eq", "value": str(i)}
                    for i in range(MAX_CONDITIONS)]}  # with the "any", one too many
    found = problems_of({"experiments": [experiment(targeting=wide)]})
    reason = f"at most {MAX_CONDITIONS} conditions in one tree"
    assert found == [f"experiment 'exp': targeting: {reason}"]
    wide["any"].pop()
    config, problems = parse_config({"experiments": [experiment(targeting=wide)]})
    assert problems == [] and validate_config(config) == []


def test_targeting_as_deep_as_allowed_is_served() -> None:
    config, problems = parse_config({"experiments": [experiment(
        targeting=nested_nots(MAX_DEPTH - 1))]})
    assert problems == [] and validate_config(config) == []


def test_a_deeply_nested_variant_payload_is_a_problem() -> None:
    payload: Any = 1
    for _ in range(300):  # 600 levels: json.dumps in the test itself stops near 1,000
        payload = {"x": [payload]}
    found = problems_of({"experiments": [experiment(variants=[
        {"key": "a", "weight": 50}, {"key": "b", "weight": 50, "config": payload}])]})
    assert found == [f"experiment 'exp': variants[1].config: nests more than {MAX_DEPTH} deep"]


def test_yaml_too_deep_to_read_is_a_problem_not_a_crash() -> None:
    text = "experiments:\n- key: exp\n  targeting: " + "[" * 5000 + "]" * 5000
    with pytest.raises(ConfigError, match="nested too deeply to read"):
        load_config_text(text)


@pytest.mark.parametrize("weight", [math.nan, math.inf, -math.inf])
def test_weights_must_be_finite(weight: float) -> None:
    found = problems_of({"experiments": [experiment(variants=[
        {"key": "a", "weight": weight}, {"key": "b", "weight": 50}])]})
    assert f"experiment 'exp': variants[0].weight: must be a finite number, not {weight}" in found


def test_a_weight_beyond_the_range_of_a_float_is_refused() -> None:
    text = '{"experiments": [{"key": "exp", "variants": [{"key": "a", "weight": 1e400},' \
           ' {"key": "b", "weight": 50}]}]}'
    with pytest.raises(ConfigError) as raised:
        load_config_text(text)
    found = [str(problem) for problem in raised.value.problems]
    assert "experiment 'exp': variants[0].weight: must be a finite number, not inf" in found


@pytest.mark.parametrize(
    ("changes", "line"),
    [({"coverage": math.nan}, "coverage: must be a finite number, not nan"),
     ({"conversion_window_hours": math.inf},
      "conversion_window_hours: must be a finite number, not inf")],
)
def test_other_numbers_must_be_finite(changes: dict[str, Any], line: str) -> None:
    assert f"experiment 'exp': {line}" in problems_of({"experiments": [experiment(**changes)]})
    found = problems_of({"holdout": {"percent": math.inf}, "experiments": [experiment()]})
    assert "holdout: percent: must be a finite number, not inf" in found


@pytest.mark.parametrize("number", [0, -3, MAX_PHASE + 1, 2**62])
def test_phase_numbers_out_of_range_say_the_range(number: int) -> None:
    found = problems_of({"experiments": [experiment(phases=[{"number": number}])]})
    assert found == [
        f"experiment 'exp': phases[0].number: must be between 1 and {MAX_PHASE}, not {number}"
    ]


def test_the_largest_phase_number_is_accepted() -> None:
    config = load_config_text(json.dumps({"experiments": [experiment(
        phases=[{"number": 1}, {"number": MAX_PHASE}])]}))
    assert config.experiments[0].phase == MAX_PHASE


def condition(**changes: Any) -> dict[str, Any]:
    return {"attribute": "a", "op": "eq", "value": "x", **changes}


PAYLOAD = {"text": "t" * 10_000}


def two_variants(config: Any) -> list[dict[str, Any]]:
    return [{"key": "a", "weight": 50}, {"key": "b", "weight": 50, "config": config}]


@pytest.mark.parametrize(
    ("changes", "line"),
    [
        ({"description": "d" * 600_000},
         "description: is longer than 10,000 characters (600,000)"),
        ({"variants": [{"key": f"v{i}", "weight": 100 / 21} for i in range(21)]},
         "variants: at most 20 entries, not 21"),
        ({"metrics": [{"key": f"m{i}", "event": "e"} for i in range(51)]},
         "metrics: at most 50 entries, not 51"),
        ({"overrides": {f"u{i}": "a" for i in range(1001)}},
         "overrides: at most 1,000 entries, not 1,001"),
        ({"overrides": {"u" * 1025: "a"}},
         f"overrides.{'u' * 40}: the user id is longer than 1,024 characters (1,025)"),
        ({"overrides": {"x\ud800": "a"}},
         "overrides.x\ud800: the user id is not a string of valid Unicode"),
        ({"layer_slots": [[i, i] for i in range(1001)]},
         "layer_slots: at most 1,000 entries, not 1,001"),
        ({"phases": [{"number": i + 1} for i in range(1001)]},
         "phases: at most 1,000 entries, not 1,001"),
        ({"salt": "s" * 129}, "salt: is longer than 128 characters (129)"),
        ({"variants": two_variants(PAYLOAD)},
         f"variants[1].config: {len(json.dumps(PAYLOAD, separators=(',', ':'))):,} bytes as "
         "JSON; at most 10,000"),
        ({"targeting": condition(value="v" * 1025)},
         "targeting.value: is longer than 1,024 characters (1,025)"),
        ({"targeting": condition(op="in", value=["v" * 1025])},
         "targeting.value: is longer than 1,024 characters (1,025)"),
        ({"targeting": condition(op="regex", value="v" * 1025)},
         "targeting.value: is longer than 1,024 characters (1,025)"),
        ({"targeting": condition(op="in", value=list(range(1001)))},
         "targeting.value: at most 1,000 values, not 1,001"),
        ({"targeting": condition(op="gt", value=math.inf)},
         "targeting.value: must be a finite number, not inf"),
        ({"targeting": condition(attribute="a" * 129)},
         "targeting.attribute: is longer than 128 characters (129)"),
    ],
)
def test_sizes_are_bounded_with_field_and_reason(changes: dict[str, Any], line: str) -> None:
    found = problems_of({"experiments": [experiment(**changes)]})
    assert f"experiment 'exp': {line}" in found, found


def test_a_whole_experiment_stays_far_below_a_kafka_message() -> None:
    assert MAX_EXPERIMENT_BYTES * 4 <= 1_048_576  # a quarter of Kafka's default message cap
    overrides = {f"{i:04d}" + "u" * 1000: "b" for i in range(300)}  # each within its bounds
    found = problems_of({"experiments": [experiment(overrides=overrides)]})
    assert len(found) == 1, found
    assert found[0].startswith("experiment 'exp': (whole experiment): 30")
    assert found[0].endswith(f"bytes as JSON; at most {MAX_EXPERIMENT_BYTES:,}")
    fewer = dict(list(overrides.items())[:200])
    assert load_config_text(json.dumps({"experiments": [experiment(overrides=fewer)]}))


@pytest.mark.parametrize("name", ["has space", "", "x" * 129, "-leading", "a/b"])
def test_layer_keys_follow_the_experiment_key_rule(name: str) -> None:
    found = problems_of({"layers": [{"key": name}], "experiments": [experiment()]})
    assert f"layer {name!r}: key: use 1-128 letters, digits, '_', '.' or '-', starting with a " \
           "letter or digit" in found


@pytest.mark.parametrize("name", ["has space", "x" * 129, "purchase!", "a/b"])
def test_metric_event_names_follow_the_experiment_key_rule(name: str) -> None:
    metrics = [{"key": "m", "kind": "count", "event": name},
               {"key": "r", "kind": "ratio", "numerator": {"event": name},
                "denominator": {"event": "ok"}}]
    found = problems_of({"experiments": [experiment(metrics=metrics)]})
    rule = "use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit"
    assert f"experiment 'exp': metrics[0].event: not a valid event name: {rule}" in found
    assert f"experiment 'exp': metrics[1].numerator.event: not a valid event name: {rule}" in found


def test_long_layer_descriptions_and_holdout_salts_are_refused() -> None:
    found = problems_of({"layers": [{"key": "l", "description": "d" * 10_001}],
                         "holdout": {"percent": 1, "salt": "x\ud800"},
                         "experiments": [experiment()]})
    assert "layer 'l': description: is longer than 10,000 characters (10,001)" in found
    assert "holdout: salt: is not a string of valid Unicode" in found
