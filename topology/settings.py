"""One `Settings` object, read from ABSTREAM_* environment variables or an env file.

Precedence: environment variables, then the env file (``.env`` in the working
directory, or the file named by ``ABSTREAM_ENV_FILE``), then the defaults below.
Unset Kafka and ClickHouse addresses mean "the local servers that
``abstream infra up`` runs".
"""

from __future__ import annotations

import os
from functools import cached_property
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from errors import SettingsError
from experiments.attribution import AttributionRules
from topology.tokens import Actor, parse_tokens
from topology.topics import TopicNames

LOOPBACK = "127.0.0.1"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="ABSTREAM_", frozen=True, extra="ignore", env_file_encoding="utf-8"
    )

    local_dir: Path = Field(Path(".local"), description="Caches and local server state")
    stack: str = Field("dev", pattern=r"^[A-Za-z0-9_-]+$", description="Name of the local stack")

    kafka_bootstrap: str | None = Field(None, description="An existing Kafka; unset = local")
    kafka_port: int = Field(19092, ge=1, le=65535)
    kafka_controller_port: int = Field(19093, ge=1, le=65535)
    kafka_heap: str = Field("512m", pattern=r"^\d+[mMgG]$")

    clickhouse_url: str | None = Field(None, description="An existing server; unset = local")
    clickhouse_port: int = Field(19000, ge=1, le=65535)
    clickhouse_http_port: int = Field(18123, ge=1, le=65535)
    database: str = Field("abstream", pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")

    sink_url: str | None = Field(None, description="Where results go; unset = embedded chDB")
    write_results: bool = Field(True, description="this worker writes facts to the sink")
    sink_batch_rows: int = Field(10_000, ge=1, le=1_000_000,
                                 description="facts written to the sink at once, at most")
    srm_check_interval_s: float = Field(10.0, gt=0, le=3600,
                                        description="how often the leader checks for SRM")
    srm_pause: bool = Field(False, description="pause an experiment on a confirmed SRM")
    ramp_check_interval_s: float = Field(
        5.0, gt=0, le=3600,
        description="how often the leader checks ramps and guardrails (one query each)")
    sink_batch_s: float = Field(1.0, gt=0, le=300, description="longest wait to fill a batch")
    topic_partitions: int = Field(4, ge=1, le=1024)
    topic_prefix: str = Field("abstream", pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")

    web_host: str = Field(LOOPBACK, description="Where the worker's HTTP API listens")
    web_port: int = Field(6066, ge=1, le=65535)
    api_tokens: SecretStr | None = Field(
        None, description="actor:token[:scope+scope] entries, comma-separated; unset = no writes"
    )
    api_open_reads: bool = Field(True, description="false: reads need a token too")
    api_open_intake: bool = Field(False, description="true: anyone may send events (warned)")
    console_session_hours: float = Field(8.0, gt=0, le=24 * 30,
                                         description="how long a console sign-in lasts")
    console_secret: SecretStr | None = Field(
        None, min_length=32,
        description="signs console sessions (32+ characters); unset = from ABSTREAM_API_TOKENS")
    body_timeout_s: float = Field(10.0, gt=0, le=600, description="longest wait for a body")
    api_url: str = Field(f"http://{LOOPBACK}:6066", description="The API the CLI talks to")
    api_token: SecretStr | None = Field(None, description="The CLI's bearer token")
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    max_batch_events: int = Field(1000, ge=1, le=100_000)
    max_future_skew_s: float = Field(300.0, ge=0, description="clamped up to this, refused after")

    dedup_retention_days: float = Field(7.0, gt=0, description="also the maximum lateness")
    grace_minutes: float = Field(1440.0, ge=0, description="exact goal history per user")
    lookback_days: int = Field(14, ge=0, le=365, description="CUPED pre-period")
    clock_skew_s: float = Field(60.0, ge=0, description="a goal this early still counts")
    kafka_session_timeout_s: float = Field(30.0, ge=6, le=300)
    commit_interval_s: float = Field(2.8, gt=0, le=600, description="how often offsets commit")
    repartition: bool = Field(False, description="re-key the -unkeyed topics by user_id")
    join_batch_max: int = Field(1000, ge=1, le=100_000,
                                description="messages the join takes at once")
    join_batch_ms: float = Field(50.0, gt=0, le=10_000,
                                 description="longest wait to fill a join batch")
    standby_replicas: int = Field(1, ge=0, le=16,
                                  description="standby copies of each table partition")

    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="the worker's log level (debug, info, warning, error)")
    log_format: Literal["text", "json"] = Field(
        "text", description="text, or json: one JSON object per line")

    @field_validator("log_level", "log_format", mode="before")
    @classmethod
    def _lower_case(cls, value: object) -> object:
        # INFO and info, JSON and json: operators write both.
        return value.strip().lower() if isinstance(value, str) else value

    @field_validator("api_tokens")
    @classmethod
    def _tokens_parse(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            parse_tokens(value.get_secret_value())
        return value

    @cached_property
    def home(self) -> Path:
        """Absolute state directory of this stack (pid files, data, logs)."""
        return (self.local_dir / "stacks" / self.stack).resolve()

    @cached_property
    def kafka_libs_dir(self) -> Path:
        """The jar cache, shared by every stack."""
        return (self.local_dir / "kafka" / "libs").resolve()

    @property
    def topics(self) -> TopicNames:
        return TopicNames(self.topic_prefix)

    @property
    def token_actors(self) -> dict[str, Actor]:
        """Bearer token → the actor it identifies, with its scopes."""
        if self.api_tokens is None:
            return {}
        return parse_tokens(self.api_tokens.get_secret_value())

    @property
    def worker_dir(self) -> Path:
        """The worker's own state (RocksDB tables): one per app (topic prefix) and web port."""
        return self.home / "workers" / self.topic_prefix / str(self.web_port)

    @property
    def attribution(self) -> AttributionRules:
        return AttributionRules(
            grace_ms=int(self.grace_minutes * 60_000), lookback_days=self.lookback_days,
            clock_skew_ms=int(self.clock_skew_s * 1000),
            dedup_retention_ms=int(self.dedup_retention_days * 86_400_000),
        )

    @property
    def manages_kafka(self) -> bool:
        return self.kafka_bootstrap is None

    @property
    def manages_clickhouse(self) -> bool:
        return self.clickhouse_url is None

    @property
    def bootstrap_servers(self) -> str:
        return self.kafka_bootstrap or f"{LOOPBACK}:{self.kafka_port}"

    @property
    def clickhouse_server_url(self) -> str:
        return self.clickhouse_url or f"clickhouse://{LOOPBACK}:{self.clickhouse_port}/{self.database}"

    @property
    def results_sink_url(self) -> str:
        if self.sink_url:
            return self.sink_url
        return f"chdb://{(self.local_dir / 'chdb').resolve()}?database={self.database}"


def load_settings(**overrides: object) -> Settings:
    """Read settings, turning validation failures into one readable `SettingsError`."""
    env_file = os.environ.get("ABSTREAM_ENV_FILE", ".env")
    try:
        return Settings(_env_file=env_file, **overrides)
    except ValidationError as exc:
        problems = "; ".join(
            f"ABSTREAM_{'_'.join(map(str, err['loc'])).upper()}: {err['msg']}"
            for err in exc.errors()
        )
        raise SettingsError(f"invalid settings: {problems}") from None
