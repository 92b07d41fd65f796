"""Faust's own levers, one at a time, on the decode-only Faust agent.

    python -m bench.faust_levers [--users 10000] [--goals 4] [--rounds 3]

Fills one topic namespace (4 partitions, one exposure and `--goals` goal events
per user, one event a record: the records Faust charges for) and reads all of it
with `bench.faust_floor` once per lever and round, the levers interleaved so that
the machine's drift falls on all of them alike. Each lever changes one Faust
option from the worker's settings (`bench.faust_floor.LEVERS`); "baseline" changes
none. Prints the median records/s of each and its ratio to the baseline's median,
and every round's figures.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import subprocess
import sys
import uuid

from bench.faust_floor import LEVERS
from bench.pipeline import PORT, fill, remove_state
from infra import Stack
from topology.settings import load_settings
from topology.topics import TopicNames


def floor(prefix: str, expected: int, lever: str, run: int) -> float:
    done = subprocess.run(
        [sys.executable, "-m", "bench.faust_floor", prefix, str(expected), str(PORT + 2),
         lever, str(run)],
        capture_output=True, text=True, timeout=600,
    )
    found = re.search(r"RATE (\d+)", done.stdout)
    if found is None:
        raise RuntimeError(f"lever {lever!r} gave no rate: {done.stderr[-2000:]}")
    return float(found.group(1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--goals", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    settings = load_settings()
    started = [n for n, s in Stack(settings).up(["kafka"]).items() if s is not None]
    prefix = f"benchlevers-{uuid.uuid4().hex[:8]}"
    try:
        records, _ = asyncio.run(fill(settings.bootstrap_servers, TopicNames(prefix),
                                      args.users, args.goals))
        rounds = [{lever: floor(prefix, records, lever, run) for lever in LEVERS}
                  for run in range(args.rounds)]
    finally:
        remove_state(prefix)
        Stack(settings).down(started)
    medians = {lever: statistics.median(r[lever] for r in rounds) for lever in LEVERS}
    print(f"{records} records, 4 partitions; decode-only Faust agent; medians of "
          f"{args.rounds} rounds")
    for lever, rate in medians.items():
        per_round = ", ".join(f"{r[lever]:.0f}" for r in rounds)
        print(f"{lever:<22} {rate:>8.0f} records/s  {rate / medians['baseline']:>5.2f}x "
              f"baseline   (rounds: {per_round})")


if __name__ == "__main__":
    main()
