"""The Kafka topics abstream uses, and creating them idempotently."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import TopicAlreadyExistsError, for_code

_KEEP_FOREVER = {"retention.ms": "-1", "retention.bytes": "-1"}
FACTS_RETENTION_MS = 7 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicSpec:
    name: str
    partitions: int
    config: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class TopicNames:
    """abstream's topic names under one prefix (settings: ABSTREAM_TOPIC_PREFIX)."""

    prefix: str = "abstream"

    @property
    def exposures(self) -> str:
        return f"{self.prefix}.exposures"

    @property
    def events(self) -> str:
        return f"{self.prefix}.events"

    @property
    def config(self) -> str:
        return f"{self.prefix}.config"

    @property
    def config_audit(self) -> str:
        return f"{self.prefix}.config-audit"

    @property
    def deadletter(self) -> str:
        return f"{self.prefix}.deadletter"

    @property
    def alerts(self) -> str:
        return f"{self.prefix}.alerts"

    @property
    def facts(self) -> str:
        return f"{self.prefix}.facts"

    @property
    def exposures_unkeyed(self) -> str:
        """Exposures from producers that cannot key by user_id (see `repartition_topics`)."""
        return f"{self.prefix}.exposures-unkeyed"

    @property
    def users_changelog(self) -> str:
        """The changelog of the join's users table (Faust names it after the app id,
        which is the prefix, and the table)."""
        return f"{self.prefix}-users-changelog"

    @property
    def events_unkeyed(self) -> str:
        return f"{self.prefix}.events-unkeyed"


def abstream_topics(partitions: int, names: TopicNames | None = None) -> list[TopicSpec]:
    """Every topic, with `partitions` for the user-keyed (co-partitioned) streams."""
    names = names or TopicNames()
    return [
        TopicSpec(names.exposures, partitions),
        TopicSpec(names.events, partitions),
        # The source of truth for experiment definitions: latest value per key.
        TopicSpec(names.config, 1, {"cleanup.policy": "compact", "min.compaction.lag.ms": "0"}),
        TopicSpec(names.config_audit, 1, _KEEP_FOREVER),
        TopicSpec(names.deadletter, partitions),
        TopicSpec(names.alerts, 1),
        # Batches of per-user facts for the sink. Not compacted: a record holds the facts
        # of many keys. Kept long enough to outlast a store outage; a lost store is
        # rebuilt from the users changelog (abstream/rebuild.py).
        TopicSpec(names.facts, partitions,
                  {"cleanup.policy": "delete", "retention.ms": str(FACTS_RETENTION_MS)}),
    ]


def repartition_topics(partitions: int, names: TopicNames | None = None) -> list[TopicSpec]:
    """The inputs of the optional repartition step, keyed any way (or not at all)."""
    names = names or TopicNames()
    return [TopicSpec(names.exposures_unkeyed, partitions),
            TopicSpec(names.events_unkeyed, partitions)]


async def ensure_topics(bootstrap: str, specs: Sequence[TopicSpec]) -> list[str]:
    """Create the topics that do not exist yet; returns the names it created.

    An existing topic keeps its partition count, even if it differs: changing
    partitions would move users between workers. Its cleanup policy is made the
    spec's (the facts topic was compacted before its records held many keys, and a
    compacted topic refuses them), with the spec's other settings.
    """
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        if missing:
            response = await admin.create_topics(
                [NewTopic(spec.name, spec.partitions, 1, topic_configs=dict(spec.config))
                 for spec in missing]
            )
            for name, code, *_ in response.topic_errors:
                error = for_code(code)
                if code and error is not TopicAlreadyExistsError:  # a racing creator is fine
                    raise error(f"creating topic {name}")
        # Also the topics another worker is creating at this moment: they are counted next.
        await _until_described(admin, specs)
        await _align_cleanup_policies(admin, [spec for spec in specs if spec not in missing])
        return [spec.name for spec in missing]
    finally:
        await admin.close()


async def _align_cleanup_policies(admin: AIOKafkaAdminClient,
                                  specs: Sequence[TopicSpec]) -> None:
    wanted = [spec for spec in specs if "cleanup.policy" in spec.config]
    if not wanted:
        return
    responses = await admin.describe_configs(
        [ConfigResource(ConfigResourceType.TOPIC, spec.name) for spec in wanted])
    policies = {resource[3]: {entry[0]: entry[1] for entry in resource[4]}.get("cleanup.policy")
                for response in responses for resource in response.resources}
    # AlterConfigs replaces a topic's settings: the spec's whole configuration goes.
    changes = [ConfigResource(ConfigResourceType.TOPIC, spec.name, dict(spec.config))
               for spec in wanted if policies.get(spec.name) != spec.config["cleanup.policy"]]
    for response in await admin.alter_configs(changes) if changes else []:
        for code, message, _, name in response.resources:
            if code:
                raise for_code(code)(f"setting the cleanup policy of topic {name}: {message}")


async def _until_described(admin: AIOKafkaAdminClient, specs: Sequence[TopicSpec],
                           timeout_s: float = 10.0) -> None:
    """Wait until the broker's metadata shows every partition of the created topics.

    A created topic answers describe requests with no partitions for a moment; callers
    count partitions right away (the worker checks co-partitioning before it starts).
    """
    deadline = time.monotonic() + timeout_s
    wanted = {spec.name: spec.partitions for spec in specs}
    while wanted and time.monotonic() < deadline:
        for metadata in await admin.describe_topics(list(wanted)):
            if len(metadata["partitions"]) >= wanted.get(metadata["topic"], 0):
                wanted.pop(metadata["topic"], None)
        if wanted:
            await asyncio.sleep(0.05)


async def describe_topic(bootstrap: str, name: str) -> tuple[int, dict[str, str]]:
    """A topic's partition count and its effective configuration."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        (metadata,) = await admin.describe_topics([name])
        responses = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, name)])
        entries = responses[0].resources[0][4]
        return len(metadata["partitions"]), {entry[0]: entry[1] for entry in entries}
    finally:
        await admin.close()
