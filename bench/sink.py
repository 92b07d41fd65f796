"""Writing to the results store and reading results back, on the ClickHouse server and chDB.

    python -m bench.sink [--insert-rows 200000] [--sizes 1000000,10000000]

1. Rows/s of `user_metrics` inserts the way the sink writer makes them (batches of
   10,000 rows from Python), on the local ClickHouse server and on embedded chDB.
2. The per-variant totals query (`sinks.totals.variant_totals`), overall and by a
   dimension, at each size of `user_metrics` (filled inside the store by
   INSERT ... SELECT): the median of 5 runs.

Prints the figures and the ratio chDB / server.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from collections.abc import Callable

from infra import Stack
from sinks import Sink, open_sink
from sinks.migrations import migrate
from sinks.tables import USER_METRIC_COLUMNS
from sinks.totals import variant_totals
from topology.settings import load_settings

BATCH = 10_000
FILL = """
INSERT INTO {database}.user_metrics ({columns})
SELECT 'bench', 1, if(number % 2 = 0, 'a', 'b'), concat('u', toString(number)), 'n',
       toFloat64(number % 5), toFloat64(number % 3), 0, 0, 0, 0, ['platform'],
       [if(number % 3 = 0, 'ios', 'web')], 1
FROM numbers({first}, {count})
"""


def insert_rate(sink: Sink, rows: int) -> float:
    batch = [("insert", 1, "ab"[i % 2], f"u{i}", "n", float(i % 5), float(i % 3), 0.0, 0.0,
              0, 0, ["platform"], ["ios" if i % 3 == 0 else "web"], 1) for i in range(BATCH)]
    start = time.perf_counter()
    for _ in range(rows // BATCH):
        sink.insert("user_metrics", USER_METRIC_COLUMNS, batch)
    return rows / (time.perf_counter() - start)


def fill_to(sink: Sink, filled: int, size: int) -> None:
    step = 1_000_000
    for first in range(filled, size, step):
        sink.command(FILL.format(database=sink.database, columns=", ".join(USER_METRIC_COLUMNS),
                                 first=first, count=min(step, size - first)))


def median_s(work: Callable[[], object], runs: int = 5) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        work()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(url: str, insert_rows: int, sizes: list[int]) -> dict[str, float]:
    figures: dict[str, float] = {}
    with open_sink(url) as sink:
        migrate(sink)
        figures["insert rows/s"] = insert_rate(sink, insert_rows)
        filled = 0
        for size in sizes:
            fill_to(sink, filled, size)
            filled = size
            figures[f"totals at {size:,} s"] = median_s(lambda: variant_totals(sink, "bench"))
            figures[f"by dimension at {size:,} s"] = median_s(
                lambda: variant_totals(sink, "bench", "platform"))
        sink.command(f"DROP DATABASE {sink.database}")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--insert-rows", type=int, default=200_000)
    parser.add_argument("--sizes", default="1000000,10000000")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    settings = load_settings()
    started = [n for n, s in Stack(settings).up(["clickhouse"]).items() if s is not None]
    database = f"bench_{uuid.uuid4().hex[:8]}"
    try:
        server_url = settings.clickhouse_server_url.rsplit("/", 1)[0] + f"/{database}"
        server = measure(server_url, args.insert_rows, sizes)
        with tempfile.TemporaryDirectory() as folder:
            embedded = measure(f"chdb://{folder}?database={database}", args.insert_rows, sizes)
    finally:
        Stack(settings).down(started)
    print(f"{'':<30} {'ClickHouse 18.16':>18} {'chDB':>14} {'chDB / server':>14}")
    for name, value in server.items():
        other = embedded[name]
        print(f"{name:<30} {value:>18,.3f} {other:>14,.3f} {other / value:>13.2f}x")


if __name__ == "__main__":
    main()
