"""`abstream experiments ...`: the experiment API from the command line."""

from __future__ import annotations

import argparse
import json
from typing import Any

from abstream.admin_client import printable
from abstream.schedule_cli import add_schedule_parsers, run_schedule_command
from topology.settings import Settings

__all__ = ["add_experiments_parser", "printable", "run_experiments_command"]


def add_experiments_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser("experiments", help="list, change and apply experiments")
    actions = parser.add_subparsers(dest="action", required=True)
    apply = actions.add_parser("apply", help="make the running config match a file")
    apply.add_argument("file")
    apply.add_argument("--dry-run", action="store_true", help="show the diff and stop")
    actions.add_parser("list", help="every experiment")
    for name, text in (("show", "one experiment"), ("history", "its change history"),
                       ("activate", "start it"), ("pause", "show control to everyone"),
                       ("kill", "conclude it, rolled back: control for everyone")):
        action = actions.add_parser(name, help=text)
        action.add_argument("key")
        action.add_argument("--reason", default="")
    ramp = actions.add_parser("ramp", help="change the share of users enrolled")
    ramp.add_argument("key")
    ramp.add_argument("percent", type=float)
    ramp.add_argument("--reason", default="")
    add_schedule_parsers(actions)
    for name in ("approve", "reject"):
        review = actions.add_parser(name, help=f"{name} a pending change")
        review.add_argument("key")
        review.add_argument("change")
        review.add_argument("--reason", default="")
    return parser


PATCHES = {"activate": {"status": "active"}, "pause": {"status": "paused"},
           "kill": {"status": "concluded", "shipped_variant": None}}


def run_experiments_command(args: argparse.Namespace, settings: Settings) -> None:
    from abstream.admin_client import AdminClient
    from abstream.apply import apply_config
    from experiments import config_document, load_config_file

    token = settings.api_token.get_secret_value() if settings.api_token else None
    client = AdminClient(settings.api_url, token)
    if args.action == "apply":
        canonical = config_document(load_config_file(args.file))  # all problems, up front
        apply_config(client, _read_document(args.file), canonical, args.dry_run, _say)
    elif args.action == "list":
        for item in client.get("/experiments")["experiments"]:
            _say(f"{item['key']:<32} {item['status']:<10} v{item['version']:<4} "
                  f"coverage {item['coverage']:g} %  {item['description'] or ''}")
    elif args.action == "show":
        _print(client.get(f"/experiments/{args.key}"))
    elif args.action == "history":
        for entry in client.get(f"/experiments/{args.key}/history")["history"]:
            unapplied = "  (not applied)" if entry.get("applied") is False else ""
            _say(f"v{entry['version_after']:<4} {entry['action']:<8} by {entry['actor']:<12} "
                 f"{entry['reason']}  {json.dumps(entry['diff'])[:100]}{unapplied}")
    elif args.action in ("schedule", "resume", "status"):
        run_schedule_command(args, client, _say)
    elif args.action in ("approve", "reject"):
        _print(client.request("POST", f"/experiments/{args.key}/changes/{args.change}/"
                              f"{args.action}", reason=args.reason)[1])
    else:
        patch = {"coverage": args.percent} if args.action == "ramp" else PATCHES[args.action]
        current = client.get(f"/experiments/{args.key}")
        status, body = client.request("PATCH", f"/experiments/{args.key}", patch,
                                      current["version"], reason=args.reason)
        if status == 202:
            _say(f"pending approval: change {body['pending']}")
        else:
            _say(f"{args.key}: version {body['version']}, status {body['experiment']['status']},"
                  f" users moved {body['users_moved_percent']:g} %"
                  + (", new phase" if body["new_phase"] else ""))


def _read_document(path: str) -> dict[str, Any]:
    import yaml

    with open(path, encoding="utf-8") as source:
        return yaml.safe_load(source) or {}


def _say(line: str) -> None:
    """Print one line whose text may come from the server: control characters escaped."""
    print(printable(line))


def _print(value: Any) -> None:
    for line in json.dumps(value, indent=2, ensure_ascii=False).splitlines():
        _say(line)
