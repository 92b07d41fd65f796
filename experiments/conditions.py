"""Validation of targeting conditions (the language is described in `experiments.targeting`).

Every problem is reported as a (path, reason) pair. A tree's depth and size are
checked first and without recursion, so no document can exhaust the stack.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import re2

from experiments.limits import (
    MAX_CONDITIONS,
    MAX_DEPTH,
    MAX_LIST,
    MAX_NAME,
    MAX_REGEX_PROGRAM,
    MAX_REGEX_PROGRAMS,
    text_problem,
)
from experiments.semver import parse_version
from experiments.targeting import (
    MAX_ATTRIBUTE_LENGTH,
    OPERATORS,
    ORDERING_OPERATORS,
    SEMVER_OPERATORS,
    compile_pattern,
)


def validate_condition(node: Any, path: str = "targeting") -> list[tuple[str, str]]:
    """Every problem in a condition tree, as (path, reason) pairs."""
    shape = _shape_problem(node, path)
    if shape:
        return [shape]
    return _validate_node(node, path) or _regex_cost_problems(node, path)


def _regex_cost_problems(node: Any, path: str) -> list[tuple[str, str]]:
    """The patterns of one valid tree together, since a lookup may run all of them."""
    total, stack = 0, [node]
    while stack:
        current = stack.pop()
        stack.extend(current.get("all") or current.get("any") or
                     ([current["not"]] if "not" in current else []))
        if current.get("op") == "regex":
            total += compile_pattern(current["value"]).programsize
    if total <= MAX_REGEX_PROGRAMS:
        return []
    return [(path, f"its patterns are too costly to run on every lookup together "
                   f"({total:,} RE2 instructions; at most {MAX_REGEX_PROGRAMS:,})")]


def _shape_problem(node: Any, path: str) -> tuple[str, str] | None:
    """A tree too deep or too large, found depth first and without recursion."""
    count, stack = 0, [(node, path, 1)]
    while stack:
        current, where, depth = stack.pop()
        count += 1
        if depth > MAX_DEPTH:
            return where, f"conditions nest at most {MAX_DEPTH} deep"
        if count > MAX_CONDITIONS:
            return path, f"at most {MAX_CONDITIONS} conditions in one tree"
        if not isinstance(current, Mapping):
            continue
        if "not" in current:
            stack.append((current["not"], f"{where}.not", depth + 1))
        for key in ("all", "any"):
            children = current.get(key)
            if isinstance(children, list):
                stack.extend((child, f"{where}.{key}[{i}]", depth + 1)
                             for i, child in enumerate(children))
    return None


def _validate_node(node: Any, path: str) -> list[tuple[str, str]]:
    if not isinstance(node, Mapping):
        return [(path, "a condition must be a mapping")]
    combinators = [key for key in ("all", "any", "not") if key in node]
    if combinators:
        if len(node) != 1:
            return [(path, f"'{combinators[0]}' must be the only key of its condition")]
        key = combinators[0]
        if key == "not":
            return _validate_node(node["not"], f"{path}.not")
        if not isinstance(node[key], list):
            return [(f"{path}.{key}", "must be a list of conditions")]
        return [problem for i, child in enumerate(node[key])
                for problem in _validate_node(child, f"{path}.{key}[{i}]")]
    return _validate_comparison(node, path)


def _validate_comparison(node: Mapping[str, Any], path: str) -> list[tuple[str, str]]:
    unknown = set(node) - {"attribute", "op", "value"}
    if unknown:
        return [(path, f"unknown keys {sorted(unknown)}; use attribute, op, value, all, any, not")]
    attribute, op, value = node.get("attribute"), node.get("op"), node.get("value")
    if not isinstance(attribute, str) or not attribute:
        return [(f"{path}.attribute", "must be a non-empty string")]
    if reason := text_problem(attribute, MAX_NAME):
        return [(f"{path}.attribute", reason)]
    if op not in OPERATORS:
        choices = ", ".join(sorted(OPERATORS))
        return [(f"{path}.op", f"unknown operator {op!r}; use one of {choices}")]
    if reason := _bound_problem(value):
        return [(f"{path}.value", reason)]
    if op == "exists":
        ok = value is None or isinstance(value, bool)
        return [] if ok else [(f"{path}.value", "exists takes true or false")]
    if op in ("in", "not_in"):
        ok = isinstance(value, list) and all(_is_scalar(item) for item in value)
        return [] if ok else [(f"{path}.value", f"{op} takes a list of strings or numbers")]
    if op == "regex":
        if not isinstance(value, str):
            return [(f"{path}.value", "regex takes a string")]
        try:
            size = compile_pattern(value).programsize
        except re2.error as exc:
            reason = "patterns run on RE2, which has no backreferences or lookaround"
            return [(f"{path}.value", f"bad regular expression ({_re2_reason(exc)}); {reason}")]
        if size > MAX_REGEX_PROGRAM:
            return [(f"{path}.value", f"the pattern is too costly to run on every lookup "
                                      f"({size:,} RE2 instructions; at most "
                                      f"{MAX_REGEX_PROGRAM:,})")]
        return []
    if op in SEMVER_OPERATORS:
        ok = isinstance(value, str) and parse_version(value) is not None
        return [] if ok else [(f"{path}.value", f"not a semantic version: {value!r}")]
    ordered = isinstance(value, int | float | str) and not isinstance(value, bool)
    if op in ORDERING_OPERATORS and not ordered:
        return [(f"{path}.value", f"{op} takes a number or a string")]
    return [] if _is_scalar(value) else [(f"{path}.value", f"{op} takes a string, number or bool")]


def _bound_problem(value: Any) -> str | None:
    """Strings the read path can compare (see MAX_ATTRIBUTE_LENGTH), finite numbers, short
    lists."""
    if isinstance(value, list) and len(value) > MAX_LIST:
        return f"at most {MAX_LIST:,} values, not {len(value):,}"
    for item in value if isinstance(value, list) else [value]:
        if isinstance(item, str) and (reason := text_problem(item, MAX_ATTRIBUTE_LENGTH)):
            return reason
        if isinstance(item, float) and not math.isfinite(item):
            return f"must be a finite number, not {item}"
    return None


def _is_scalar(value: Any) -> bool:
    return isinstance(value, str | int | float | bool)


def _re2_reason(exc: Exception) -> str:
    detail = exc.args[0] if exc.args else ""
    return detail.decode("utf-8", "replace") if isinstance(detail, bytes) else str(detail)
