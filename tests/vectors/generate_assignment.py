"""Writes tests/vectors/assignment.json from the reference implementation.

Run only when the specification changes (and bump SPEC_VERSION): the vectors
pin today's behaviour so that any change to it, in this or another language,
fails the tests.  python -m tests.vectors.generate_assignment
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from experiments import ConfigSnapshot, assign_all, bucket, parse_config

SPEC_VERSION = 1
OUT = Path(__file__).with_name("assignment.json")

SALTS = ["checkout_button_color", "holdout:global", "layer:checkout", "ünïcødé-salt", ""]
UNIT_IDS = ["", "0", "1", "42", "user-1", "user-2", "User-1", " user-1", "ü-42", "用户-42",
            "🙂", "a" * 300, "12345678901234567890", "a:b", "null", "\u00e9", "e\u0301",
            "tab\tid", "new\nline", "9999"]

CONFIG: dict[str, Any] = {
    "holdout": {"percent": 5, "salt": "global"},
    "layers": [{"key": "checkout"}],
    "experiments": [
        {"key": "button", "status": "active", "layer": "checkout", "layer_slots": [[0, 4999]],
         "variants": [{"key": "blue", "weight": 50}, {"key": "green", "weight": 50}]},
        {"key": "one_click", "status": "active", "layer": "checkout",
         "layer_slots": [[5000, 9999]], "coverage": 40,
         "variants": [{"key": "control", "weight": 50}, {"key": "one_click", "weight": 50}],
         "targeting": {"all": [
             {"attribute": "country", "op": "in", "value": ["US", "CA"]},
             {"any": [{"attribute": "platform", "op": "eq", "value": "web"},
                      {"attribute": "app_version", "op": "semver_gte", "value": "4.2.0"}]}]},
         "overrides": {"qa-alice": "one_click", "qa-bob": "control"}},
        {"key": "ranking", "status": "active", "salt": "ranking-2026",
         "variants": [{"key": "control", "weight": 34}, {"key": "bm25", "weight": 33},
                      {"key": "learned", "weight": 33}]},
        {"key": "paused_exp", "status": "paused",
         "variants": [{"key": "off", "weight": 50}, {"key": "on", "weight": 50}]},
        {"key": "shipped_exp", "status": "concluded", "shipped_variant": "on",
         "variants": [{"key": "off", "weight": 50}, {"key": "on", "weight": 50}]},
        {"key": "rolled_back_exp", "status": "concluded",
         "variants": [{"key": "off", "weight": 50}, {"key": "on", "weight": 50}]},
        {"key": "draft_exp", "status": "draft",
         "variants": [{"key": "off", "weight": 50}, {"key": "on", "weight": 50}]},
    ],
}

ATTRIBUTES = [
    {}, {"country": "US", "platform": "web"}, {"country": "CA", "app_version": "4.10.0"},
    {"country": "US", "app_version": "4.2.0-beta.1"}, {"country": "FR", "platform": "web"},
]


def assignment_cases(snapshot: ConfigSnapshot) -> list[dict[str, Any]]:
    users = [f"user-{i}" for i in range(110)] + ["qa-alice", "qa-bob", "", "用户-7", "🙂"]
    cases = []
    for i, user in enumerate(users):
        attributes = ATTRIBUTES[i % len(ATTRIBUTES)]
        result = assign_all(snapshot, user, attributes)
        cases.append({
            "user_id": user,
            "attributes": attributes,
            "expected": {key: [a.variant, a.reason.value] for key, a in sorted(result.items())},
        })
    return cases


def main() -> None:
    config, problems = parse_config(CONFIG)
    assert not problems, problems
    snapshot = ConfigSnapshot.build(config)
    vectors = {
        "spec_version": SPEC_VERSION,
        "hash": "bucket(salt, unit_id) = murmur3_x86_32(utf8(salt + ':' + unit_id), seed=0) "
                "read as unsigned 32-bit, modulo 10000",
        "salts": {"holdout": "'holdout:' + holdout salt", "layer": "'layer:' + layer key",
                  "variant": "the experiment's salt, default its key"},
        "bucket_cases": [{"salt": s, "unit_id": u, "bucket": bucket(s, u)}
                         for s in SALTS for u in UNIT_IDS],
        "config": CONFIG,
        "assignment_cases": assignment_cases(snapshot),
    }
    OUT.write_text(json.dumps(vectors, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"wrote {len(vectors['bucket_cases'])} bucket and "
          f"{len(vectors['assignment_cases'])} assignment cases to {OUT}")


if __name__ == "__main__":
    main()
