"""The golden vectors: the public contract any implementation of assignment must meet."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from experiments import ConfigSnapshot, assign_all, bucket, parse_config

VECTORS = json.loads(
    (Path(__file__).parents[1] / "vectors" / "assignment.json").read_text(encoding="utf-8")
)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bucket_case" in metafunc.fixturenames:
        cases = VECTORS["bucket_cases"]
        metafunc.parametrize("bucket_case", cases,
                             ids=[f"{c['salt'][:12]!r}-{c['unit_id'][:12]!r}" for c in cases])
    if "assignment_case" in metafunc.fixturenames:
        cases = VECTORS["assignment_cases"]
        metafunc.parametrize("assignment_case", cases,
                             ids=[f"{i}-{c['user_id'][:12]!r}" for i, c in enumerate(cases)])


@pytest.fixture(scope="module")
def snapshot() -> ConfigSnapshot:
    config, problems = parse_config(VECTORS["config"])
    assert problems == []
    return ConfigSnapshot.build(config)


def test_there_are_enough_vectors() -> None:
    assert VECTORS["spec_version"] == 1
    assert len(VECTORS["bucket_cases"]) + len(VECTORS["assignment_cases"]) >= 200


def test_bucket(bucket_case: dict[str, Any]) -> None:
    assert bucket(bucket_case["salt"], bucket_case["unit_id"]) == bucket_case["bucket"]


def test_assignment(snapshot: ConfigSnapshot, assignment_case: dict[str, Any]) -> None:
    result = assign_all(snapshot, assignment_case["user_id"], assignment_case["attributes"])
    got = {key: [a.variant, a.reason.value] for key, a in result.items()}
    assert got == assignment_case["expected"]


@pytest.mark.parametrize(
    ("data", "seed", "expected"),
    [  # published MurmurHash3 x86_32 reference values
        ("", 0, 0),
        ("", 1, 0x514E28B7),
        ("", 0xFFFFFFFF, 0x81F16F39),
        ("The quick brown fox jumps over the lazy dog", 0, 0x2E4FF723),
        ("Hello, world!", 1234, 0xFAF6CDB3),
    ],
)
def test_the_hash_is_reference_murmur3(data: str, seed: int, expected: int) -> None:
    import mmh3

    assert mmh3.hash(data, seed, False) == expected


def test_bucket_is_the_documented_formula() -> None:
    import mmh3

    # Salt and id are joined by one colon; the unsigned hash is taken modulo 10,000.
    assert bucket("exp", "user-1") == mmh3.hash("exp:user-1", 0, False) % 10_000
    assert 0 <= bucket("", "") < 10_000
