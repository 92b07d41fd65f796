"""The main job: the whole pipeline on simulated traffic, checked against the ground truth.

`run_demo` starts what is missing (Kafka; the ClickHouse server only when it is
the results store), starts a worker in a namespace of its own (topics and
database `demo-<id>` / `demo_<id>`), applies `configs/demo.yaml`, simulates
users with known effects, waits until every event is processed and written,
prints each experiment's results, then stops the worker and compares the
results store's totals with the ground truth. It leaves nothing behind: it stops
what it started and deletes its topics, database and worker state, unless
`keep_running`: then it starts the worker again on the demo's data, for the console
at /ui/, until interrupted.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import yaml
from aiokafka.admin import AIOKafkaAdminClient

from abstream.admin_client import AdminClient
from abstream.apply import apply_config
from abstream.simulate import Progress, send_to_kafka, store_totals, wait_until_processed
from abstream.worker_process import WorkerProcess, settings_env
from analysis.table import results_table
from experiments import ConfigSnapshot, config_document, load_config_file, load_config_text
from experiments.ground_truth import compare
from experiments.simulation import DEFAULT_LIFT, SimulationSpec, default_effects, simulate
from infra import Stack
from sinks import open_sink, redact
from topology.settings import Settings
from topology.topics import abstream_topics, ensure_topics

DEMO_CONFIG = Path(__file__).resolve().parent.parent / "configs" / "demo.yaml"
DEMO_USERS = 100_000


@dataclass
class DemoOutcome:
    comparison: list[dict[str, Any]]  # `experiments.simulation.compare` rows
    reports: dict[str, dict[str, Any]]  # experiment → results report
    seconds: dict[str, float] = field(default_factory=dict)  # step → wall time

    @property
    def exact(self) -> bool:
        return all(row["ok"] for row in self.comparison)


def needed_services(settings: Settings) -> list[str]:
    """Kafka always; the local ClickHouse server only when it is the results store."""
    uses_local_server = settings.manages_clickhouse and (
        settings.results_sink_url == settings.clickhouse_server_url
    )
    return ["kafka", "clickhouse"] if uses_local_server else ["kafka"]


def run_demo(
    settings: Settings, users: int = DEMO_USERS, keep_running: bool = False,
    say: Callable[[str], None] = print, progress: TextIO = sys.stderr,
) -> DemoOutcome:
    started_at = time.monotonic()
    stack = Stack(settings)
    started: list[str] = []
    run_id = f"{time.strftime('%Y%m%d%H%M%S')}{secrets.token_hex(2)}"
    demo = settings.model_copy(update={"topic_prefix": f"demo-{run_id}",
                                       "database": f"demo_{run_id}"})
    token = secrets.token_urlsafe(16)
    worker = WorkerProcess(settings.web_port, {
        **settings_env(demo), "ABSTREAM_API_TOKENS": f"demo:{token}",
        # Larger batches: the demo sends its whole backlog at once.
        "ABSTREAM_JOIN_BATCH_MAX": "4000", "ABSTREAM_SINK_BATCH_ROWS": "50000",
    }, demo.home / "demo" / f"worker-{run_id}.log")
    seconds: dict[str, float] = {}
    try:
        for name, waited in stack.up(needed_services(settings)).items():
            if waited is not None:
                started.append(name)
            say(f"{name:<10} ready" + (f" (started in {waited:.1f} s)" if waited else ""))
        asyncio.run(ensure_topics(demo.bootstrap_servers,
                                  abstream_topics(demo.topic_partitions, demo.topics)))
        worker.log_file.parent.mkdir(parents=True, exist_ok=True)
        worker.start()
        say(f"{'worker':<10} ready on {worker.url} (topics {demo.topic_prefix}.*, "
            f"results in {redact(demo.results_sink_url)}; log {worker.log_file})")
        say(f"{'console':<10} {worker.url}/ui/ (sign in with the token {token})")
        client = worker.client(token)
        snapshot = apply_demo_config(client)
        say(f"{'config':<10} applied {DEMO_CONFIG.name}: "
            f"{', '.join(e.key for e in snapshot.config.experiments)}")

        mark = time.monotonic()
        spec = SimulationSpec(users=users, now_ms=int(time.time() * 1000),
                              effects=default_effects(snapshot),
                              clock_skew_allowance_ms=int(demo.clock_skew_s * 1000),
                              lookback_days=demo.lookback_days)
        simulation = simulate(snapshot, spec)
        say(f"{'simulated':<10} {users:,} users: {len(simulation.deliveries):,} events to "
            f"send ({len(simulation.deliveries) - simulation.distinct_events:,} duplicates), "
            f"true lift {DEFAULT_LIFT:+.0%} for each experiment's first treatment")
        bar = Progress("sending", len(simulation.deliveries), progress)
        asyncio.run(send_to_kafka(demo.bootstrap_servers, demo.topics, simulation.deliveries,
                                  bar.update))
        bar.close()
        seconds["simulate and send"] = time.monotonic() - mark

        mark = time.monotonic()
        bar = Progress("processed", 1, progress)

        def show(done: int, total: int) -> None:
            bar.total = max(total, 1)
            bar.update(done)

        asyncio.run(wait_until_processed(demo.bootstrap_servers, demo.topic_prefix,
                                         demo.topics, progress=show))
        bar.close()
        seconds["process and write"] = time.monotonic() - mark

        reports = {key: _final_report(client, key) for key in simulation.truth["experiments"]}
        for report in reports.values():
            say("")
            say(results_table(report))
        worker.stop()  # embedded chDB: one process at a time
        with open_sink(demo.results_sink_url) as sink:
            comparison = compare(simulation.truth, store_totals(sink, simulation.truth))
        say("")
        for line in comparison_table(comparison):
            say(line)
        seconds["total"] = time.monotonic() - started_at
        say("")
        say(f"done in {seconds['total']:.0f} s (sending {seconds['simulate and send']:.0f} s, "
            f"processing {seconds['process and write']:.0f} s)")
        if keep_running:
            _serve_until_interrupted(worker, token, say)
        return DemoOutcome(comparison, reports, seconds)
    finally:
        worker.stop()
        if not keep_running:
            _clean_up(demo, worker, say)
        if started and not keep_running:
            stack.down(started)
            say(f"stopped {', '.join(started)}")


def _serve_until_interrupted(worker: WorkerProcess, token: str,
                             say: Callable[[str], None]) -> None:
    """Start the worker again on the demo's data (it was stopped for the comparison) and
    keep it up until Ctrl-C."""
    worker.start()
    say("")
    say(f"the console is up on the demo's data: {worker.url}/ui/ (sign in with the token "
        f"{token}); Ctrl-C stops the worker and keeps the data")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        say("stopping the worker")


def comparison_table(rows: list[dict[str, Any]]) -> list[str]:
    """Per experiment, variant and metric: users and mean, truth against results store."""
    lines = ["ground truth against the results store (users, and each metric's mean or ratio):",
             f"  {'experiment':<24} {'variant':<11} {'metric':<20} {'users':>15} "
             f"{'value (truth / store)':>25}"]
    for row in rows:
        expected, found = row["expected"], row["found"]
        users = f"{int(expected['n']):,} / {int(found.get('n', 0)):,}"
        means = f"{_mean(expected):.5g} / {_mean(found):.5g}"
        lines.append(f"  {row['experiment']:<24} {row['variant']:<11} {row['metric']:<20} "
                     f"{users:>15} {means:>25}  "
                     + ("exact" if row["ok"] else f"MISMATCH in {', '.join(row['mismatched'])}"))
    exact = sum(row["ok"] for row in rows)
    lines.append(f"{exact} of {len(rows)} rows match exactly (every count and sum)"
                 + ("" if exact == len(rows) else " — see the MISMATCH rows"))
    return lines


def _mean(sums: dict[str, Any]) -> float:
    """Per user; for a ratio metric, numerator over denominator."""
    n = sums.get("sum_d") or sums.get("n", 0)
    return sums.get("sum_x", 0.0) / n if n else 0.0


def apply_demo_config(client: AdminClient) -> ConfigSnapshot:
    """Apply `configs/demo.yaml` through a worker; the configuration it then serves
    (phases and ranges as they are live), for the simulator."""
    written = yaml.safe_load(DEMO_CONFIG.read_text(encoding="utf-8"))
    apply_config(client, written, config_document(load_config_file(DEMO_CONFIG)),
                 dry_run=False, say=lambda line: None)
    served = client.get("/config")
    document = {key: value for key, value in served.items() if key != "version"}
    return ConfigSnapshot.build(load_config_text(json.dumps(document)), served["version"])


def _final_report(client: AdminClient, key: str) -> dict[str, Any]:
    """The results report, read past the API's short cache so it shows the final data."""
    deadline = time.monotonic() + 10
    report = client.get(f"/experiments/{key}/results")
    while report.get("newest_exposure_at") is None and time.monotonic() < deadline:
        time.sleep(0.5)
        report = client.get(f"/experiments/{key}/results")
    return report


def _clean_up(demo: Settings, worker: WorkerProcess, say: Callable[[str], None]) -> None:
    """Delete the demo's topics (Faust's changelogs too), database and worker state."""
    async def delete_topics() -> None:
        admin = AIOKafkaAdminClient(bootstrap_servers=demo.bootstrap_servers)
        await admin.start()
        try:
            names = [t for t in await admin.list_topics() if t.startswith(demo.topic_prefix)]
            if names:
                await admin.delete_topics(names)
        finally:
            await admin.close()

    try:
        asyncio.run(delete_topics())
        with open_sink(demo.results_sink_url) as sink:
            sink.command(f"DROP DATABASE IF EXISTS {demo.database}")
    except Exception as exc:  # tidying up must not hide the demo's own outcome
        say(f"could not delete everything the demo made: {exc}")
    shutil.rmtree(demo.worker_dir.parent, ignore_errors=True)
