"""`abstream experiments schedule KEY STEP...`, `resume KEY`, `status KEY`: ramp schedules.

A step is COVERAGE[:DURATION[:EXPOSED]], for example `5:24h:10000` (hold 5 % for at
least 24 hours and 10,000 exposed users); durations take m, h or d.
"""

from __future__ import annotations

import argparse
from typing import Any

from abstream.admin_client import AdminClient
from errors import AbstreamError

UNITS_HOURS = {"m": 1 / 60, "h": 1.0, "d": 24.0}


def add_schedule_parsers(actions: Any) -> None:
    schedule = actions.add_parser("schedule", help="declare a ramp: coverage steps the "
                                  "leader takes when each step's time and users are reached")
    schedule.add_argument("key")
    schedule.add_argument("steps", nargs="*", metavar="STEP",
                          help="COVERAGE[:DURATION[:EXPOSED]], e.g. 1:24h:1000 5:2d 100")
    schedule.add_argument("--clear", action="store_true", help="remove the schedule")
    schedule.add_argument("--reason", default="")
    resume = actions.add_parser("resume", help="continue a suspended schedule from its step")
    resume.add_argument("key")
    resume.add_argument("--reason", default="")
    status = actions.add_parser("status", help="where the schedule stands, what it waits for")
    status.add_argument("key")


def parse_step(text: str) -> dict[str, Any]:
    parts = text.split(":")
    try:
        if len(parts) > 3:
            raise ValueError
        step: dict[str, Any] = {"coverage": float(parts[0])}
        if len(parts) > 1 and parts[1]:
            unit = parts[1][-1].lower()
            step["min_hours"] = float(parts[1][:-1]) * UNITS_HOURS[unit] if unit in UNITS_HOURS \
                else float(parts[1])
        if len(parts) > 2 and parts[2]:
            step["min_exposed"] = int(parts[2].replace(",", "").replace("_", ""))
    except (ValueError, KeyError):
        raise AbstreamError(f"{text!r} is not a step: use COVERAGE[:DURATION[:EXPOSED]], "
                            "for example 5:24h:10000") from None
    return step


def run_schedule_command(args: argparse.Namespace, client: AdminClient, say: Any) -> None:
    current = client.get(f"/experiments/{args.key}")
    if args.action == "status":
        for line in status_lines(args.key, current):
            say(line)
        return
    if args.action == "schedule":
        if bool(args.steps) == args.clear:
            raise AbstreamError("give the steps, or --clear to remove the schedule")
        ramp = None if args.clear else [parse_step(step) for step in args.steps]
    else:  # resume: declaring the same schedule again continues it from its step
        ramp = current["experiment"].get("ramp")
        if not ramp:
            raise AbstreamError(f"{args.key} has no ramp schedule to resume")
    status, body = client.request("PATCH", f"/experiments/{args.key}", {"ramp": ramp},
                                  current["version"], reason=args.reason)
    if status == 202:
        say(f"pending approval: change {body['pending']}")
        return
    for line in status_lines(args.key, client.get(f"/experiments/{args.key}")):
        say(line)


def status_lines(key: str, answer: dict[str, Any]) -> list[str]:
    ramp = answer.get("ramp")
    experiment = answer["experiment"]
    if not ramp:
        return [f"{key}: no ramp schedule (coverage {experiment['coverage']:g} %, "
                f"{experiment['status']})"]
    lines = [f"{key}: step {ramp['step']} of {ramp['steps']}, coverage {ramp['coverage']:g} %, "
             f"{ramp['state']}" + (f", next {ramp['next_coverage']:g} %"
                                   if ramp["next_coverage"] is not None else ""),
             f"  step started {ramp['step_started_at'] or 'on activation'}; "
             f"{ramp['exposed_users']:,} exposed users in this phase"]
    lines += [f"  waiting for {item}" for item in ramp["waiting_for"]]
    if ramp["suspended"]:
        lines.append(f"  suspended: {ramp['suspended']}")
    for i, step in enumerate(experiment.get("ramp") or []):
        mark = "→" if i + 1 == ramp["step"] else " "
        lines.append(f"  {mark} {i + 1}. {step['coverage']:g} % for {step['min_hours']:g} h "
                     f"and {step['min_exposed']:,} exposed users")
    return lines
