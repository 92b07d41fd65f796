"""`abstream simulate`: synthetic traffic with a known answer, to Kafka or a worker's API."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path
from typing import Any

from errors import AbstreamError
from topology.settings import Settings


def _rate(text: str) -> float:
    value = float(text)
    if not 0 <= value <= 1:
        raise argparse.ArgumentTypeError(f"{text} is not a rate between 0 and 1")
    return value


def add_simulate_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser(
        "simulate", help="send simulated users with known effects; write the ground truth",
        description="Simulate users across the experiments of a config file (the one the "
        "workers run), send their exposures and goal events, and write the ground truth: per "
        "experiment, variant and metric, the exposed users and the exact sums the results "
        "store must end up with.")
    parser.add_argument("--config", type=Path, default=Path("configs/demo.yaml"),
                        help="the experiments (default configs/demo.yaml)")
    parser.add_argument("--users", type=int, default=10_000, help="default 10000")
    parser.add_argument("--seed", type=int, default=1, help="the same seed, the same traffic")
    parser.add_argument("--via", choices=["kafka", "api"], default="kafka",
                        help="produce to Kafka (default) or POST to ABSTREAM_API_URL")
    parser.add_argument("--truth", type=Path, default=Path("ground-truth.json"),
                        help="where the ground truth goes (default ground-truth.json)")
    parser.add_argument("--duplicates", type=_rate, default=0.01,
                        help="share of events sent twice (default 0.01)")
    parser.add_argument("--out-of-order", type=_rate, default=0.05,
                        help="share of users whose events arrive up to 4 minutes late")
    parser.add_argument("--clock-skew", type=_rate, default=0.02,
                        help="share of users whose device clock is off by up to 30 s")
    parser.add_argument("--effect", action="append", default=[], metavar="EXP.VARIANT[.EVENT]=LIFT",
                        help="a true relative lift, e.g. checkout_button_color.green=0.05 "
                             "(repeatable; default: +8 %% for each experiment's first treatment)")
    return parser


def run_simulate_command(args: argparse.Namespace, settings: Settings) -> None:
    from abstream.admin_client import AdminClient
    from abstream.simulate import Progress, send_to_api, send_to_kafka, write_truth
    from experiments import ConfigSnapshot, load_config_file
    from experiments.simulation import SimulationSpec, default_effects, parse_effect, simulate

    if args.users < 1:
        raise AbstreamError("--users must be at least 1")
    snapshot = ConfigSnapshot.build(load_config_file(args.config))
    try:
        effects = dict(parse_effect(text) for text in args.effect) or default_effects(snapshot)
    except ValueError as exc:
        raise AbstreamError(str(exc)) from None
    spec = SimulationSpec(
        users=args.users, seed=args.seed, now_ms=int(time.time() * 1000),
        duplicate_rate=args.duplicates, out_of_order_rate=args.out_of_order,
        clock_skew_rate=args.clock_skew, effects=effects,
        clock_skew_allowance_ms=int(settings.clock_skew_s * 1000),
        lookback_days=settings.lookback_days)
    simulation = simulate(snapshot, spec)
    bar = Progress("sending", len(simulation.deliveries))
    if args.via == "kafka":
        asyncio.run(send_to_kafka(settings.bootstrap_servers, settings.topics,
                                  simulation.deliveries, bar.update))
        target = f"Kafka ({settings.bootstrap_servers}, {settings.topic_prefix}.*)"
    else:
        token = settings.api_token.get_secret_value() if settings.api_token else None
        send_to_api(AdminClient(settings.api_url, token), simulation.deliveries, bar.update)
        target = settings.api_url
    bar.close()
    write_truth(args.truth, simulation.truth)
    print(f"sent {len(simulation.deliveries):,} events ({simulation.distinct_events:,} distinct) "
          f"of {args.users:,} users to {target}", file=sys.stderr)
    print(f"ground truth: {args.truth}")
