"""`abstream results KEY [--dimension D] [--phase N]`: an experiment's results as a readable
table, after the list of its phases (allocation and dates)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from analysis.table import results_table
from topology.settings import Settings


def add_results_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser("results", help="an experiment's results, from a worker")
    parser.add_argument("key", help="the experiment")
    parser.add_argument("--dimension", help="slice every figure by this dimension")
    parser.add_argument("--phase", type=int, help="a past phase (default: the current one)")
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    return parser


def run_results_command(args: argparse.Namespace, settings: Settings) -> None:
    from urllib.parse import quote, urlencode

    from abstream.admin_client import AdminClient

    token = settings.api_token.get_secret_value() if settings.api_token else None
    query = {"dimension": args.dimension, "phase": args.phase}
    path = f"/experiments/{quote(args.key)}/results?" + urlencode(
        {name: value for name, value in query.items() if value is not None})
    report = AdminClient(settings.api_url, token).get(path.rstrip("?"))
    if args.json:
        print(json.dumps(report, indent=2))
        return
    print("\n".join([*map(phase_line, report.get("phases", [])), "", results_table(report)]))


def phase_line(phase: dict[str, Any]) -> str:
    weights = ", ".join(f"{key} {weight:g}" for key, weight in (phase["weights"] or {}).items())
    coverage = "?" if phase["coverage"] is None else f"{phase['coverage']:g} %"
    return (f"phase {phase['number']}{' (current)' if phase['current'] else ''}: "
            f"{phase['started_at'] or '?'} → {phase['ended_at'] or 'now'}, coverage {coverage}, "
            f"weights {weights or 'not recorded'}")
