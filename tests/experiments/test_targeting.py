from __future__ import annotations

from typing import Any

import pytest

from experiments.conditions import validate_condition
from experiments.semver import parse_version
from experiments.targeting import MAX_ATTRIBUTE_LENGTH, compile_condition


def matches(condition: dict[str, Any], attributes: dict[str, Any]) -> bool:
    assert validate_condition(condition) == []
    return compile_condition(condition)(attributes)


@pytest.mark.parametrize(
    ("op", "value", "actual", "expected"),
    [
        ("eq", "US", "US", True), ("eq", "US", "us", False), ("eq", 42, "42", True),
        ("eq", 42, 42.0, True), ("eq", True, "true", True), ("eq", True, 1, False),
        ("eq", 1, True, False), ("ne", "US", "CA", True), ("ne", "US", "US", False),
        ("in", ["US", "CA"], "CA", True), ("in", ["US", "CA"], "FR", False),
        ("in", [1, 2], "2", True), ("in", ["1"], 1, False), ("not_in", ["US"], "FR", True),
        ("not_in", ["US"], "US", False), ("gt", 10, "11", True), ("gt", 10, 10, False),
        ("gte", 10, 10, True), ("lt", 10, "9.5", True), ("lte", 10, "ten", False),
        ("gt", "b", "c", True), ("gt", "b", 5, False), ("regex", "^ab+c$", "abbbc", True),
        ("regex", "b", "abc", True), ("regex", "^b", "abc", False), ("regex", "1", 1, False),
        ("semver_gte", "4.2.0", "4.10.0", True), ("semver_gte", "4.2.0", "4.2.0-rc.1", False),
        ("semver_lt", "4.2.0", "v4.1", True), ("semver_eq", "1.0.0", "1.0.0+build.5", True),
        ("semver_ne", "1.0.0", "1.0.1", True), ("semver_gt", "1.0.0", "not a version", False),
        ("semver_gt", "1.0.0-alpha", "1.0.0-alpha.1", True),
        ("semver_lt", "1.0.0-alpha.beta", "1.0.0-alpha.1", True),
    ],
)
def test_operators(op: str, value: Any, actual: Any, expected: bool) -> None:
    assert matches({"attribute": "a", "op": op, "value": value}, {"a": actual}) is expected


@pytest.mark.parametrize(
    "op_value",
    [("eq", "x"), ("ne", "x"), ("in", ["x"]), ("not_in", ["x"]), ("gt", 1), ("regex", "."),
     ("semver_gte", "1.0.0")],
)
@pytest.mark.parametrize("attributes", [{}, {"a": None}])
def test_a_missing_attribute_fails_every_comparison(
    op_value: tuple[str, Any], attributes: dict[str, Any]
) -> None:
    op, value = op_value
    assert matches({"attribute": "a", "op": op, "value": value}, attributes) is False


def test_exists_and_not() -> None:
    assert matches({"attribute": "a", "op": "exists"}, {"a": 0}) is True
    assert matches({"attribute": "a", "op": "exists", "value": False}, {}) is True
    assert matches({"attribute": "a", "op": "exists", "value": False}, {"a": "x"}) is False
    assert matches({"not": {"attribute": "a", "op": "eq", "value": "x"}}, {}) is True


def test_combinators() -> None:
    condition = {"all": [
        {"attribute": "country", "op": "in", "value": ["US", "CA"]},
        {"any": [{"attribute": "platform", "op": "eq", "value": "web"},
                 {"attribute": "version", "op": "semver_gte", "value": "2.0.0"}]},
    ]}
    assert matches(condition, {"country": "US", "platform": "web"})
    assert matches(condition, {"country": "CA", "version": "2.1"})
    assert not matches(condition, {"country": "CA", "version": "1.9"})
    assert not matches(condition, {"country": "FR", "platform": "web"})
    assert matches({"all": []}, {}) and not matches({"any": []}, {})


def test_semver_ordering_follows_the_specification() -> None:
    ordered = ["1.0.0-alpha", "1.0.0-alpha.1", "1.0.0-alpha.beta", "1.0.0-beta",
               "1.0.0-beta.2", "1.0.0-beta.11", "1.0.0-rc.1", "1.0.0", "1.0.1", "1.1", "2"]
    keys = [parse_version(v) for v in ordered]
    assert keys == sorted(keys)
    assert parse_version("1.2.x") is None


@pytest.mark.parametrize(
    ("condition", "path", "reason"),
    [
        ({"attribute": "a", "op": "like", "value": "x"}, "targeting.op", "unknown operator 'like'"),
        ({"attribute": "a", "op": "regex", "value": "(["}, "targeting.value",
         "bad regular expression"),
        ({"attribute": "a", "op": "in", "value": "US"}, "targeting.value", "takes a list"),
        ({"attribute": "", "op": "eq", "value": 1}, "targeting.attribute", "non-empty"),
        ({"all": {"attribute": "a"}}, "targeting.all", "must be a list"),
        ({"all": [], "any": []}, "targeting", "only key"),
        ({"attribute": "a", "op": "semver_gt", "value": "one"}, "targeting.value",
         "not a semantic version"),
        ({"attribute": "a", "op": "eq", "value": "x", "extra": 1}, "targeting", "unknown keys"),
        ("__import__('os')", "targeting", "must be a mapping"),
    ],
)
def test_invalid_conditions_say_where_and_why(condition: Any, path: str, reason: str) -> None:
    problems = validate_condition(condition)
    assert len(problems) == 1
    assert problems[0][0] == path and reason in problems[0][1]


def test_every_problem_in_a_tree_is_reported() -> None:
    condition = {"any": [{"attribute": "a", "op": "bogus"},
                         {"not": {"attribute": "b", "op": "regex", "value": "("}}]}
    paths = [path for path, _ in validate_condition(condition)]
    assert paths == ["targeting.any[0].op", "targeting.any[1].not.value"]


@pytest.mark.parametrize(
    ("pattern", "reason"),
    [(r"(a)\1", "invalid escape sequence"), ("(?=a)b", "invalid perl operator"),
     ("(?<!a)b", "invalid perl operator"), ("a{1001}", "invalid repetition size")],
)
def test_patterns_the_linear_time_engine_cannot_run_are_refused(pattern: str, reason: str) -> None:
    problems = validate_condition({"all": [{"attribute": "a", "op": "regex", "value": pattern}]})
    assert len(problems) == 1
    path, text = problems[0]
    assert path == "targeting.all[0].value"
    assert "RE2" in text and reason in text


LONG = "1" * (MAX_ATTRIBUTE_LENGTH + 1)


@pytest.mark.parametrize(
    ("op", "value", "shorter"),
    [("eq", "x", False), ("ne", "x", True), ("eq", 1, False), ("ne", 1, True),
     ("in", ["x"], False), ("in", ["x", 1], False), ("not_in", ["x"], True),
     ("not_in", ["x", 1], True), ("gt", 1, True), ("gt", "0", True), ("lt", "2", True),
     ("regex", "^1", True), ("regex", "1$", True), ("semver_gt", "0.0.1", True),
     ("semver_ne", "1.0.0", True)],
)
def test_an_over_long_attribute_matches_no_comparison(op: str, value: Any, shorter: bool) -> None:
    condition = {"attribute": "a", "op": op, "value": value}
    assert matches(condition, {"a": LONG}) is False
    # One character shorter it is an ordinary string: the bound alone decides.
    assert matches(condition, {"a": LONG[1:]}) is shorter


def test_a_regex_on_an_attribute_that_is_not_valid_unicode_is_false() -> None:
    assert matches({"attribute": "a", "op": "regex", "value": "x"}, {"a": "x\ud800"}) is False
    assert matches({"attribute": "a", "op": "regex", "value": "é"}, {"a": "café"}) is True
