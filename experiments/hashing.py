"""The bucket function: a public contract that every SDK must reproduce exactly.

    bucket(salt, unit_id) = murmur3_x86_32(utf8(salt + ":" + unit_id), seed=0) % 10000

with the 32-bit hash read as unsigned. Independent decisions use independent salts:

    global holdout   "holdout:" + holdout salt
    layer slot       "layer:" + layer key
    variant          the experiment's salt (default: its key)

`tests/vectors/assignment.json` pins inputs to outputs for other implementations.

A string that is not valid Unicode (a lone surrogate such as "x\\ud800") has no
UTF-8 form and so no bucket: `bucket` raises `UnicodeEncodeError` (a `ValueError`)
for it. The read path refuses such ids before hashing (reason `error`).
"""

from __future__ import annotations

import mmh3

BUCKETS = 10_000
HASH_VERSION = 1  # bump only together with new vectors: a new hash moves users


def bucket(salt: str, unit_id: str) -> int:
    """The unit's bucket in [0, 10000) for this salt; ValueError if not valid Unicode."""
    # Hash the UTF-8 bytes ourselves: mmh3 5.3 crashes the interpreter on a lone surrogate.
    return mmh3.hash(f"{salt}:{unit_id}".encode(), 0, False) % BUCKETS


def holdout_salt(salt: str) -> str:
    return f"holdout:{salt}"


def layer_salt(layer_key: str) -> str:
    return f"layer:{layer_key}"
