"""The read path never raises, never crashes and never stalls, whatever a caller passes."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

from experiments import ConfigSnapshot, parse_config

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
