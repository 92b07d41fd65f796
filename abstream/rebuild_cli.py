"""`abstream rebuild-results [--raw]`: refill a lost or emptied results store from Kafka."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import Any

from topology.settings import Settings

HELP = """\
Rebuilds user_metrics from the users table's compacted changelog (exact: every
user's newest state is kept by compaction; facts are made from it with the
configuration of now), after creating any missing table. With --raw, also
refills exposures_raw, events_raw, dead_letters and experiment_audit from their
topics: those are only as complete as each topic's retention. Safe to run twice,
and while workers run: every write is idempotent.
"""


def add_rebuild_parser(commands: Any) -> argparse.ArgumentParser:
    parser = commands.add_parser("rebuild-results", help="rebuild the results store from Kafka",
                                 description=HELP,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--raw", action="store_true",
                        help="also refill the raw tables, as far as the topics' retention goes")
    parser.add_argument("--sink-url", help="the store to rebuild (default ABSTREAM_SINK_URL)")
    parser.add_argument("--batch-rows", type=_batch_rows, default=10_000,
                        help="messages written at once (default 10000)")
    return parser


def _batch_rows(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 1_000_000:
        raise argparse.ArgumentTypeError(f"{text} is not between 1 and 1000000")
    return value


def run_rebuild_command(args: argparse.Namespace, settings: Settings) -> None:
    from abstream.rebuild import rebuild
    from abstream.simulate import Progress
    from sinks import open_sink, redact

    # Their failures come back as one clear error; their own logs would repeat them.
    for driver in ("clickhouse_driver", "aiokafka"):
        logging.getLogger(driver).setLevel(logging.CRITICAL)
    url = args.sink_url or settings.results_sink_url
    bars: dict[str, Progress] = {}

    def progress(table: str, done: int, total: int) -> None:
        bar = bars.setdefault(table, Progress(table, total))
        bar.update(done)
        if done >= total:
            bar.close()

    print(f"rebuilding {redact(url)} from {settings.bootstrap_servers} "
          f"(topics {settings.topic_prefix}.*)")
    with open_sink(url) as sink:
        done = asyncio.run(rebuild(sink, settings.bootstrap_servers, settings.topics,
                                   raw=args.raw, batch_rows=args.batch_rows,
                                   progress=progress))
    for part in done:
        skipped = f", {part.broken:,} undecodable skipped" if part.broken else ""
        print(f"{part.table:<17} {part.rows:>10,} rows from {part.messages:,} messages of "
              f"{part.topic} in {part.seconds:.1f} s ({part.rows_per_s:,.0f} rows/s){skipped}")
