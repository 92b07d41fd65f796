"""The read path never raises, never crashes and never stalls, whatever a caller passes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from experiments import ConfigSnapshot, Reason, assign, assign_all, parse_config
from experiments.targeting import MAX_ATTRIBUTE_LENGTH

REPO = Path(__file__).parents[2]
EXPERIMENT = {"key": "exp", "status": "active",
              "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]}


def snapshot_with(**changes: Any) -> ConfigSnapshot:
    config, problems = parse_config({"experiments": [{**EXPERIMENT, **changes}]})
    assert problems == []
    return ConfigSnapshot.build(config)


def run_isolated(code: str, timeout: float = 20) -> subprocess.CompletedProcess:
    """Run `code` in a fresh interpreter, so that a crash or a stall fails one test only."""
    setup = (f"from experiments import *\nfrom experiments.snapshot import *\n"
             f"EXPERIMENT = {EXPERIMENT!r}\n")
    return subprocess.run([sys.executable, "-c", setup + textwrap.dedent(code)], cwd=REPO,
                          capture_output=True, text=True, timeout=timeout, check=False)


def test_ids_that_are_not_valid_unicode_give_control_without_crashing() -> None:
    # mmh3 5.3 dies with a segmentation fault on a lone surrogate: it must never see one.
    done = run_isolated("""
        config, _ = parse_config({"experiments": [EXPERIMENT]})
        snapshot = ConfigSnapshot.build(config)
        for unit in ("x\\ud800", "\\udfff", "ok\\udc80ok"):
            assert assign_all(snapshot, unit)["exp"].reason is Reason.ERROR
            assert assign(snapshot, "exp", unit).reason is Reason.ERROR
            assert ExperimentClient(snapshot).for_user(unit).get_group("exp") == "a"
            try:
                bucket("salt", unit)
            except ValueError:
                pass
            else:
                raise AssertionError("bucket hashed a string that is not valid Unicode")
        print("survived", snapshot.stats.errors)
    """)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split() == ["survived", "9"]


def test_a_pattern_that_backtracks_runs_in_linear_time() -> None:
    # With a backtracking engine this lookup takes about 40 s; the worker's loop would stall.
    code = """
        import time
        config, _ = parse_config({"experiments": [{**EXPERIMENT, "targeting": {
            "attribute": "name", "op": "regex", "value": "^(a+)+$"}}]})
        snapshot = ConfigSnapshot.build(config)
        start = time.perf_counter()
        for name in ("a" * 30 + "!", "a" * 1000 + "!"):
            assert assign_all(snapshot, "u1", {"name": name})["exp"].reason is Reason.TARGETED_OUT
        assert assign_all(snapshot, "u1", {"name": "aaaa"})["exp"].reason is not Reason.TARGETED_OUT
        print(time.perf_counter() - start)
    """
    try:
        done = run_isolated(code, timeout=10)
    except subprocess.TimeoutExpired:
        pytest.fail("a lookup with a backtracking pattern took more than 10 s")
    assert done.returncode == 0, done.stderr[-2000:]
    assert float(done.stdout) < 0.5


SOME_TEXT = st.text(st.characters(exclude_categories=()), max_size=12)  # surrogates included
ANY_VALUE = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | SOME_TEXT
    | st.text(min_size=MAX_ATTRIBUTE_LENGTH - 1, max_size=MAX_ATTRIBUTE_LENGTH + 1),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SOME_TEXT, inner, max_size=3),
    max_leaves=6,
)
EVERY_OPERATOR = {"any": [
    {"attribute": "a", "op": op, "value": value} for op, value in [
        ("eq", "x"), ("eq", 1), ("eq", True), ("ne", "x"), ("ne", 2.5), ("in", ["x", "y"]),
        ("in", ["x", 1]), ("not_in", ["x"]), ("not_in", [1, "y"]), ("gt", 1), ("lte", "m"),
        ("regex", "^x"), ("semver_gte", "1.2.0"), ("semver_ne", "1.0.0"), ("exists", True),
    ]
]}


@settings(max_examples=300, deadline=None)
@given(user_id=ANY_VALUE | SOME_TEXT, value=ANY_VALUE)
def test_no_input_makes_a_lookup_raise(user_id: Any, value: Any) -> None:
    snapshot = snapshot_with(targeting=EVERY_OPERATOR)
    found = assign_all(snapshot, user_id, {"a": value, "b": value})["exp"]
    assert found.variant in ("a", "b")
    assert assign(snapshot, "exp", user_id, {"a": value}).reason == found.reason
    assert snapshot.stats.errors == (2 if found.reason is Reason.ERROR else 0)
    if found.reason is Reason.ERROR:  # only an id can be malformed; attributes just don't match
        assert assign_all(snapshot, "u1", {"a": value})["exp"].reason is not Reason.ERROR
