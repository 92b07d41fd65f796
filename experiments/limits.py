"""Bounds on what one experiment's definition may hold, and the checks that enforce them.

An experiment travels as one record on the compacted `abstream.config` topic,
whose messages Kafka caps at 1 MB by default; these limits keep a valid
experiment far below it (MAX_EXPERIMENT_BYTES), and keep every check and every
lookup cheap and free of deep recursion:

    description (experiment or layer)       10,000 characters
    keys: experiment, variant, metric, layer, metric event
                                            1-128 of A-Z a-z 0-9 _ . -, starting with
                                            a letter or digit (`KEY`)
    salt, targeting attribute names         128 characters
    strings in targeting conditions         1,024 characters (MAX_ATTRIBUTE_LENGTH:
                                            the read path compares no longer attribute)
    override ids                            1,024 characters (the longest unit id)
    variants 20, metrics 50, overrides 1,000, dimensions 10, phases 1,000,
    spans per layer_slots or variant range 1,000, members of an `in` list 1,000,
    conditions per targeting tree 256
    a regex's RE2 program                 MAX_REGEX_PROGRAM (1,000) instructions, and
                                            MAX_REGEX_PROGRAMS (4,000) for all of a tree's:
                                            every lookup runs them on up to 1,024 characters
    nesting of targeting and of a variant's config payload
                                            MAX_DEPTH (32) levels
    a variant's config payload              10,000 characters as JSON
    phase numbers                           1 to 2**31 - 1 (an `int` in the Exposure schema)
    the whole experiment as JSON            256 KiB

Every number must be finite: weights, coverage, the holdout percent, the conversion
window, and the numbers of variant config payloads (JSON has no NaN or Infinity).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

KEY = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")  # used with fullmatch: no trailing \n
KEY_RULE = "use 1-128 letters, digits, '_', '.' or '-', starting with a letter or digit"
MAX_DESCRIPTION = 10_000
MAX_NAME = 128
MAX_UNIT_ID = 1024
MAX_VARIANTS = 20
MAX_METRICS = 50
MAX_OVERRIDES = 1000
MAX_PHASES = 1000
MAX_SPANS = 1000
MAX_LIST = 1000
MAX_CONDITIONS = 256
MAX_DEPTH = 32
MAX_PAYLOAD = 10_000
MAX_PHASE = 2**31 - 1
MAX_VERSION = 2**63 - 1  # a `long` in the config and exposure records
MAX_EXPERIMENT_BYTES = 256 * 1024
MAX_REGEX_PROGRAM = 1000
MAX_REGEX_PROGRAMS = 4000


def depth_exceeds(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether mappings and lists nest deeper than `limit`; iterative, so any depth is safe."""
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, Mapping):
            children: Any = node.values()
        elif isinstance(node, list | tuple):
            children = node
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def is_text(value: Any) -> bool:
    """A str with a UTF-8 form: a lone surrogate would break hashing and the JSON encoders."""
    if not isinstance(value, str):
        return False
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def text_problem(value: Any, limit: int) -> str | None:
    """Why `value` is not a string of at most `limit` characters of valid Unicode, or None."""
    if not is_text(value):
        return "is not a string of valid Unicode"
    if len(value) > limit:
        return f"is longer than {limit:,} characters ({len(value):,})"
    return None


def json_size(value: Any) -> int | None:
    """Bytes of `value` as compact UTF-8 JSON (other values written as text); None when a
    string in it is not valid Unicode."""
    text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        return None


def finite_json(value: Any) -> bool:
    """Whether `value` is JSON without NaN or Infinity (which JSON does not have)."""
    try:
        json.dumps(value, allow_nan=False, default=str)
    except ValueError:
        return False
    return True
