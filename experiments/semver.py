"""Semantic Versioning 2.0 strings as sortable keys, for the semver_* targeting operators.

A "v" prefix and a missing minor or patch are allowed ("v4.1" is 4.1.0);
pre-releases order below their release; build metadata is ignored.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

# Its parts are delimited by ".", "-" and "+", so a failing match backtracks little; the
# read path only passes attributes of at most 1,024 characters (targeting.py).
_VERSION = re.compile(
    r"^v?(\d+)(?:\.(\d+))?(?:\.(\d+))?(?:-([0-9A-Za-z.-]+))?(?:\+[0-9A-Za-z.-]+)?$"
)


@lru_cache(maxsize=16_384)  # a user's version is compared by every experiment that targets it
def parse_version(text: str) -> tuple[Any, ...] | None:
    """A sortable key for a semantic version, or None if `text` is not one."""
    match = _VERSION.match(text.strip())
    if not match:
        return None
    major, minor, patch, pre = match.groups()
    core = (int(major), int(minor or 0), int(patch or 0))
    if pre is None:
        return (*core, 1, ())  # a release sorts after all of its pre-releases
    # Numeric identifiers sort numerically and below alphanumeric ones (SemVer 2.0, item 11).
    ids = tuple((0, int(part), "") if part.isdigit() else (1, 0, part) for part in pre.split("."))
    return (*core, 0, ids)
