"""The `abstream` command: parses arguments and calls into the packages."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Sequence

from errors import AbstreamError
from topology.logs import LOG_LEVELS
from topology.settings import Settings, load_settings

DESCRIPTION = """\
abstream runs A/B tests: it assigns users to experiment variants, joins their
exposures and goal events on Kafka, and serves exact per-variant results from
ClickHouse.

Start here:
  abstream demo              a whole experiment on local servers, end to end
  abstream infra up          start a local Kafka and ClickHouse
  abstream worker            run a worker: the stream processing and the HTTP API
  abstream experiments ...   create, change and list experiments on a worker
  abstream results KEY       an experiment's results
  abstream rebuild-results   refill a lost results store from Kafka

Settings are ABSTREAM_* environment variables; `abstream settings` shows them.
"""


def _infra(args: argparse.Namespace, settings: Settings) -> None:
    from infra import Stack

    stack = Stack(settings)
    services = args.services or ["kafka", "clickhouse"]
    if args.action == "install":
        stack.install(services)
        print("installed: " + ", ".join(services))
    elif args.action == "up":
        for name, seconds in stack.up(services).items():
            print(f"{name}: " + (f"started in {seconds:.1f} s" if seconds else "already running"))
    elif args.action == "down":
        stopped = stack.down(services)
        print("stopped: " + (", ".join(stopped) if stopped else "nothing was running"))
    if args.action in ("up", "status"):
        for status in stack.status():
            print(status.describe())


def _topics(args: argparse.Namespace, settings: Settings) -> None:
    from topology.topics import abstream_topics, ensure_topics

    specs = abstream_topics(args.partitions or settings.topic_partitions, settings.topics)
    created = asyncio.run(ensure_topics(settings.bootstrap_servers, specs))
    for spec in specs:
        state = "created" if spec.name in created else "exists"
        print(f"{spec.name:<24} {state:<8} partitions={spec.partitions}")


def _demo(args: argparse.Namespace, settings: Settings) -> None:
    from abstream.demo import run_demo

    outcome = run_demo(settings, users=args.users, keep_running=args.keep_running)
    if not outcome.exact:
        raise AbstreamError("the results store does not match the ground truth")


def _experiments(args: argparse.Namespace, settings: Settings) -> None:
    from abstream.experiments_cli import run_experiments_command

    run_experiments_command(args, settings)


def _worker(args: argparse.Namespace, settings: Settings) -> None:
    from abstream.worker import run_worker

    if args.port:
        settings = load_settings(web_port=args.port)
    try:
        run_worker(settings, loglevel=args.loglevel)  # None: ABSTREAM_LOG_LEVEL
    except AbstreamError as exc:
        if settings.log_format != "json":
            raise
        # Logging is JSON by now: the reason the worker stops is a record like the others.
        logging.getLogger("abstream").error("abstream: error: %s", exc)
        raise SystemExit(1) from None


def _settings(args: argparse.Namespace, settings: Settings) -> None:
    from sinks import redact

    for name, value in settings.model_dump().items():
        shown = "" if value is None else redact(value) if isinstance(value, str) else value
        print(f"ABSTREAM_{name.upper()}={shown}")


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text} is not a positive number")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="abstream", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)

    infra = commands.add_parser("infra", help="local Kafka and ClickHouse servers")
    infra.add_argument("action", choices=["install", "up", "down", "status"])
    infra.add_argument("services", nargs="*", metavar="SERVICE",
                       help="kafka and/or clickhouse (default: both)")
    infra.set_defaults(run=_infra)

    topics = commands.add_parser("topics", help="create abstream's Kafka topics")
    topics.add_argument("action", choices=["create"])
    topics.add_argument("--partitions", type=int, help="for the user-keyed topics")
    topics.set_defaults(run=_topics)

    demo = commands.add_parser("demo", help="a whole experiment, end to end, on local servers")
    demo.add_argument("--users", type=_positive, default=100_000,
                      help="simulated users (default 100000)")
    demo.add_argument("--keep-running", action="store_true",
                      help="leave the servers, topics and results the demo made, and a "
                           "worker serving the console on them until Ctrl-C")
    demo.set_defaults(run=_demo)

    from abstream.experiments_cli import add_experiments_parser

    add_experiments_parser(commands).set_defaults(run=_experiments)

    from abstream.results_cli import add_results_parser, run_results_command

    add_results_parser(commands).set_defaults(run=run_results_command)

    from abstream.rebuild_cli import add_rebuild_parser, run_rebuild_command

    add_rebuild_parser(commands).set_defaults(run=run_rebuild_command)

    from abstream.simulate_cli import add_simulate_parser, run_simulate_command

    add_simulate_parser(commands).set_defaults(run=run_simulate_command)

    worker = commands.add_parser("worker", help="run a worker: stream processing and the API")
    worker.add_argument("--port", type=int, help="the HTTP port (default ABSTREAM_WEB_PORT)")
    worker.add_argument("--loglevel", choices=LOG_LEVELS,
                        help="overrides ABSTREAM_LOG_LEVEL (default info)")
    worker.set_defaults(run=_worker)

    show = commands.add_parser("settings", help="print the effective settings")
    show.set_defaults(run=_settings)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.run(args, load_settings())
    except AbstreamError as exc:
        print(f"abstream: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
