"""Targeting: a small declarative condition language over user attributes.

A condition is one of

    {"attribute": NAME, "op": OP, "value": VALUE}
    {"all": [CONDITION, ...]}      every one holds (an empty list holds)
    {"any": [CONDITION, ...]}      at least one holds (an empty list does not)
    {"not": CONDITION}

with OP among eq, ne, in, not_in, gt, gte, lt, lte, regex, exists and
semver_eq, semver_ne, semver_gt, semver_gte, semver_lt, semver_lte.

Meaning of values:
- A **missing attribute** (absent or null) makes every comparison false,
  ``ne`` and ``not_in`` included; ``{"op": "exists", "value": false}`` tests
  absence, and ``not`` inverts a whole condition.
- Attributes often arrive as strings (query parameters), so a comparison with a
  number or boolean in the config converts a string attribute first ("42" → 42,
  "true"/"false" → booleans); one that does not convert is false.
- gt/gte/lt/lte compare numbers with numbers and strings with strings.
- regex searches the string attribute (anywhere, like ``re.search``) with RE2, a
  linear-time engine: a pattern cannot stall a lookup, whatever the attribute.
  RE2 has no backreferences or lookaround; validation refuses such patterns.
- A string attribute longer than MAX_ATTRIBUTE_LENGTH (1,024) characters
  matches no comparison, as if it were missing (``ne``, ``not_in``, ordering,
  regex and semver_* included; ``exists`` still sees it), so no operator ever
  works on unbounded text. Condition values are bounded by the same length.
- semver_* compare Semantic Versioning 2.0 strings ("v" prefix and missing minor
  or patch allowed; pre-releases order below their release; build metadata is
  ignored); an attribute that is not a version is false.

Conditions are validated once (`experiments.conditions`) and compiled once per
config version into closures; nothing is ever evaluated as code.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from typing import Any

import re2

from experiments.semver import parse_version

Attributes = Mapping[str, Any]
Predicate = Callable[[Attributes], bool]

_ORDER = {"gt": operator.gt, "gte": operator.ge, "lt": operator.lt, "lte": operator.le}
_SEMVER = {f"semver_{name}": fn for name, fn in
           {**_ORDER, "eq": operator.eq, "ne": operator.ne}.items()}
OPERATORS = frozenset({"eq", "ne", "in", "not_in", "regex", "exists", *_ORDER, *_SEMVER})
ORDERING_OPERATORS = frozenset(_ORDER)
SEMVER_OPERATORS = frozenset(_SEMVER)
MAX_ATTRIBUTE_LENGTH = 1024
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # a refused pattern is reported as a problem, not logged


def always(_: Attributes) -> bool:
    return True


def compile_pattern(text: str) -> Any:
    """A linear-time RE2 pattern; raises `re2.error` for one RE2 cannot run."""
    return re2.compile(text, _RE2_OPTIONS)


def _bounded(actual: Any) -> bool:
    """False for a string attribute too long to compare."""
    return not isinstance(actual, str) or len(actual) <= MAX_ATTRIBUTE_LENGTH


def compile_condition(node: Mapping[str, Any] | None) -> Predicate:
    """A fast predicate for a validated condition (None: everyone matches)."""
    if node is None:
        return always
    if "all" in node:
        return _all_of(tuple(compile_condition(child) for child in node["all"]))
    if "any" in node:
        return _any_of(tuple(compile_condition(child) for child in node["any"]))
    if "not" in node:
        inner = compile_condition(node["not"])
        return lambda attrs: not inner(attrs)
    return _compile_comparison(node["attribute"], node["op"], node.get("value"))


def _all_of(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:  # the common shape, without the loop
        first, second = parts
        return lambda attrs: first(attrs) and second(attrs)

    def all_of(attrs: Attributes) -> bool:
        for part in parts:  # noqa: SIM110 (a generator here costs more than the tests)
            if not part(attrs):
                return False
        return True

    return all_of


def _any_of(parts: tuple[Predicate, ...]) -> Predicate:
    if len(parts) == 1:
        return parts[0]
    if len(parts) == 2:
        first, second = parts
        return lambda attrs: first(attrs) or second(attrs)

    def any_of(attrs: Attributes) -> bool:
        for part in parts:  # noqa: SIM110 (a generator here costs more than the tests)
            if part(attrs):
                return True
        return False

    return any_of


def _compile_comparison(name: str, op: str, value: Any) -> Predicate:
    if op == "exists":
        wanted = value is not False
        return lambda attrs: (attrs.get(name) is not None) is wanted
    fast = _string_comparison(name, op, value)
    if fast is not None:
        return fast
    if op in _SEMVER:
        return _version_comparison(name, _SEMVER[op], parse_version(value))
    test = _comparison_test(op, value)

    def predicate(attrs: Attributes) -> bool:
        actual = attrs.get(name)
        return actual is not None and _bounded(actual) and test(actual)

    return predicate


def _string_comparison(name: str, op: str, value: Any) -> Predicate | None:
    """Shortcuts for string-valued eq/ne/in/not_in, the common case; same meaning.

    eq and in need no length check: the values are bounded, so a longer attribute
    cannot equal one of them."""
    if op in ("eq", "ne") and isinstance(value, str):
        if op == "eq":
            return lambda attrs: attrs.get(name) == value
        return lambda attrs: (
            (actual := attrs.get(name)) is not None and actual != value and _bounded(actual)
        )
    if op in ("in", "not_in") and all(isinstance(member, str) for member in value):
        members = frozenset(value)
        if op == "in":
            return lambda attrs: type(actual := attrs.get(name)) is str and actual in members
        return lambda attrs: (actual := attrs.get(name)) is not None and not (
            type(actual) is str and actual in members
        ) and _bounded(actual)
    return None


def _comparison_test(op: str, value: Any) -> Callable[[Any], bool]:
    if op in ("in", "not_in"):
        members = tuple(value)
        inside = lambda actual: any(_equal(actual, member) for member in members)  # noqa: E731
        return inside if op == "in" else lambda actual: not inside(actual)
    if op == "eq":
        return lambda actual: _equal(actual, value)
    if op == "ne":
        return lambda actual: not _equal(actual, value)
    if op == "regex":
        return _regex_test(compile_pattern(value))
    compare = _ORDER[op]
    return lambda actual: _ordered(actual, value, compare)


def _regex_test(pattern: Any) -> Callable[[Any], bool]:
    def search(actual: Any) -> bool:
        if not isinstance(actual, str):
            return False
        try:
            return pattern.search(actual) is not None
        except UnicodeEncodeError:  # a lone surrogate: not text RE2 can read
            return False

    return search


def _coerce(actual: Any, like: Any) -> Any:
    """Convert a string attribute towards the config value's type; None if impossible."""
    if not isinstance(actual, str) or isinstance(like, str):
        return actual
    if isinstance(like, bool):
        return {"true": True, "false": False}.get(actual.strip().lower())
    try:
        return float(actual)
    except ValueError:
        return None


def _equal(actual: Any, value: Any) -> bool:
    actual = _coerce(actual, value)
    if isinstance(actual, bool) != isinstance(value, bool):
        return False
    return actual == value


def _ordered(actual: Any, value: Any, compare: Callable[[Any, Any], bool]) -> bool:
    actual = _coerce(actual, value)
    if isinstance(value, str):
        return isinstance(actual, str) and compare(actual, value)
    numeric = isinstance(actual, int | float) and not isinstance(actual, bool)
    return numeric and compare(actual, value)


def _version_comparison(
    name: str, compare: Callable[[Any, Any], bool], wanted: tuple[Any, ...] | None
) -> Predicate:
    def predicate(attrs: Attributes) -> bool:
        actual = attrs.get(name)
        if type(actual) is not str or len(actual) > MAX_ATTRIBUTE_LENGTH:
            return False
        version = parse_version(actual)
        return version is not None and compare(version, wanted)

    return predicate
