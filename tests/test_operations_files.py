"""The docker-compose stack, Prometheus config and Grafana dashboards name real things."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from prometheus_client import REGISTRY

import agents.metrics  # noqa: F401 - registers the worker's metrics
from sinks.migrations import MIGRATIONS
from topology.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text(encoding="utf-8"))
SERVICES = COMPOSE["services"]
WORKERS = [name for name, service in SERVICES.items() if service.get("command") == ["worker"]]
DASHBOARDS = sorted((ROOT / "configs" / "grafana" / "dashboards").glob("*.json"))


SAMPLE_TOKENS = "ops:a-long-sample-token"


def worker_settings(service: dict[str, Any]) -> dict[str, str]:
    """The service's ABSTREAM_* variables, with `${VAR:-default}` taken at its default and
    a required `${VAR:?message}` given a sample value."""
    def value_of(value: object) -> str:
        value = re.sub(r"\$\{[A-Z_]+:-([^}]*)\}", r"\1", str(value))
        return re.sub(r"\$\{[A-Z_]+:\?[^}]*\}", SAMPLE_TOKENS, value)
    return {name: value_of(value)
            for name, value in service["environment"].items() if name.startswith("ABSTREAM_")}


def metric_names() -> set[str]:
    names = set()
    for family in REGISTRY.collect():
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
    return {name for name in names if name.startswith("abstream_")}


def test_the_stack_has_its_services() -> None:
    assert set(SERVICES) == {"kafka", "clickhouse", "worker-1", "worker-2", "prometheus",
                             "grafana"}
    assert WORKERS == ["worker-1", "worker-2"]
    assert SERVICES["kafka"]["image"].startswith("apache/kafka:3.9")


@pytest.mark.parametrize("worker", ["worker-1", "worker-2"])
def test_worker_settings_are_real_and_valid(worker: str) -> None:
    values = worker_settings(SERVICES[worker])
    fields = {f"ABSTREAM_{name.upper()}" for name in Settings.model_fields}
    assert set(values) <= fields, set(values) - fields
    settings = load_settings(**{name.removeprefix("ABSTREAM_").lower(): value
                                for name, value in values.items()})
    assert settings.kafka_bootstrap == "kafka:9092"
    assert settings.results_sink_url.startswith("clickhouse://") and "@clickhouse:9000/" in (
        settings.results_sink_url)
    assert settings.token_actors  # writes are possible with the tokens the operator sets


def test_published_ports_bind_to_loopback_only() -> None:
    published = [port for service in SERVICES.values() for port in service.get("ports", [])]
    assert published and all(port.startswith("127.0.0.1:") for port in published), published


def test_prometheus_scrapes_each_worker_on_its_web_port() -> None:
    config = yaml.safe_load((ROOT / "configs/prometheus/prometheus.yml").read_text())
    targets = {target for job in config["scrape_configs"] if job["job_name"].startswith(
        "abstream") for group in job["static_configs"] for target in group["targets"]}
    assert targets == {f"{w}:{worker_settings(SERVICES[w])['ABSTREAM_WEB_PORT']}"
                       for w in WORKERS}
    assert config["rule_files"] == ["/etc/prometheus/alerts.yml"]


def test_every_mounted_file_exists() -> None:
    for name, service in SERVICES.items():
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("./"):
                assert (ROOT / source).exists(), f"{name} mounts missing {source}"
    datasources = yaml.safe_load(
        (ROOT / "configs/grafana/provisioning/datasources/datasources.yml").read_text())
    uids = {source["uid"] for source in datasources["datasources"]}
    assert uids == {"abstream-prometheus", "abstream-clickhouse"}


def test_dashboards_are_valid_and_distinct() -> None:
    boards = [json.loads(path.read_text()) for path in DASHBOARDS]
    assert len(boards) == 2
    assert len({board["uid"] for board in boards}) == len(boards)
    for board in boards:
        ids = [panel["id"] for panel in board["panels"]]
        assert len(ids) == len(set(ids)), board["uid"]


def test_dashboards_query_only_metrics_and_tables_that_exist() -> None:
    known_metrics = metric_names()
    tables = set(re.findall(r"CREATE TABLE IF NOT EXISTS \{database\}\.(\w+)",
                            " ".join(sql for m in MIGRATIONS for sql in m.statements)))
    seen_metrics, seen_tables = set(), set()
    for path in DASHBOARDS:
        text = path.read_text()
        for expr in re.findall(r'"expr": "((?:[^"\\]|\\.)*)"', text):
            seen_metrics |= set(re.findall(r"\babstream_[a-z_]+", expr))
        for sql in re.findall(r'"(?:rawSql|query)": "((?:[^"\\]|\\.)*)"', text):
            seen_tables |= set(re.findall(r"\babstream\.(\w+)", sql))
    assert seen_metrics and seen_metrics <= known_metrics, seen_metrics - known_metrics
    assert seen_tables and seen_tables <= tables, seen_tables - tables
    # What the issue asks the dashboards to show.
    assert {"abstream_consumer_lag_messages", "abstream_duplicates_total",
            "abstream_dead_letters_total", "abstream_late_events_total",
            "abstream_assignment_seconds_bucket", "abstream_srm_mismatch"} <= seen_metrics
    assert {"exposures_raw", "user_metrics", "srm_alerts"} <= seen_tables


def compose_command() -> list[str] | None:
    """Docker's compose plugin, or the standalone docker-compose; None if neither is here."""
    docker = shutil.which("docker")
    if docker and subprocess.run([docker, "compose", "version"],
                                 capture_output=True).returncode == 0:
        return [docker, "compose"]
    standalone = shutil.which("docker-compose")
    return [standalone] if standalone else None


def test_compose_validates_where_docker_compose_is_installed(tmp_path: Path) -> None:
    """`config` checks a file against the Compose schema without a Docker engine.
    `./run test` installs docker-compose where it can; CI must have it."""
    command = compose_command()
    if os.environ.get("CI"):
        assert command, "no docker compose: ./run test installs Debian's docker-compose as root"
    if command:
        result = compose_config(command, tmp_path, ABSTREAM_API_TOKENS=SAMPLE_TOKENS)
        assert result.returncode == 0, result.stderr
        broken = tmp_path / "docker-compose.yml"  # and the check does catch a broken file
        broken.write_text("services:\n  worker:\n    image: abstream\n    ports: 6066\n")
        result = subprocess.run([*command, "-f", str(broken), "config", "--quiet"],
                                capture_output=True, text=True)
        assert result.returncode != 0 and "ports" in result.stderr + result.stdout
    # Either way: every service has an image or a build, and the workers' build exists.
    assert all("image" in s or "build" in s for s in SERVICES.values())
    assert (ROOT / "Dockerfile").exists() and "abstream" in (ROOT / "Dockerfile").read_text()


def compose_config(command: list[str], tmp_path: Path,
                   **env: str) -> subprocess.CompletedProcess[str]:
    """`config` of the project's file with exactly `env` for ABSTREAM_* (no .env file)."""
    (tmp_path / "empty.env").write_text("")
    clean = {k: v for k, v in os.environ.items() if not k.startswith("ABSTREAM_")}
    return subprocess.run([*command, "--env-file", str(tmp_path / "empty.env"), "-f",
                           str(ROOT / "docker-compose.yml"), "config", "--quiet"],
                          capture_output=True, text=True, env={**clean, **env})


def test_compose_refuses_to_start_workers_without_api_tokens(tmp_path: Path) -> None:
    """No published fallback token: without ABSTREAM_API_TOKENS compose stops and says why."""
    command = compose_command()
    if command is None:
        pytest.skip("neither docker compose nor docker-compose is installed")
    unset = compose_config(command, tmp_path)
    assert unset.returncode != 0
    assert "ABSTREAM_API_TOKENS" in unset.stderr and "actor:token" in unset.stderr, unset.stderr
    assert compose_config(command, tmp_path, ABSTREAM_API_TOKENS=SAMPLE_TOKENS).returncode == 0
