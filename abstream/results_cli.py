"""`abstream results KEY [--dimension D]`: an experiment's results as a readable table."""

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
    parser.add_argument("--json", action="store_true", help="print the raw JSON answer")
    return parser


def run_results_command(args: argparse.Namespace, settings: Settings) -> None:
    from urllib.parse import quote

    from abstream.admin_client import AdminClient

    token = settings.api_token.get_secret_value() if settings.api_token else None
    path = f"/experiments/{quote(args.key)}/results"
    if args.dimension:
        path += f"?dimension={quote(args.dimension)}"
    report = AdminClient(settings.api_url, token).get(path)
    print(json.dumps(report, indent=2) if args.json else results_table(report))
