from __future__ import annotations

import asyncio
from dataclasses import replace

import pytest

from tests.servers import Servers
from topology.topics import TopicNames, TopicSpec, abstream_topics, describe_topic, ensure_topics

NAMES = TopicNames()


def test_user_keyed_topics_are_co_partitioned() -> None:
    by_name = {spec.name: spec for spec in abstream_topics(partitions=6)}
    assert by_name[NAMES.exposures].partitions == by_name[NAMES.events].partitions == 6
    assert by_name[NAMES.config].partitions == 1
    assert by_name[NAMES.config].config["cleanup.policy"] == "compact"


@pytest.mark.infra
async def test_compacted_topic_is_created_with_its_config(
    servers: Servers, unique_name: str
) -> None:
    config_spec = next(spec for spec in abstream_topics(3) if spec.name == NAMES.config)
    spec = replace(config_spec, name=f"{unique_name}.config")
    assert await ensure_topics(servers.bootstrap, [spec]) == [spec.name]
    partitions, config = await describe_topic(servers.bootstrap, spec.name)
    assert partitions == 1
    assert config["cleanup.policy"] == "compact"
    assert config["min.compaction.lag.ms"] == "0"


@pytest.mark.infra
async def test_creating_topics_twice_creates_nothing_the_second_time(
    servers: Servers, unique_name: str
) -> None:
    specs = [replace(spec, name=f"{unique_name}.{spec.name}") for spec in abstream_topics(2)]
    assert sorted(await ensure_topics(servers.bootstrap, specs)) == sorted(s.name for s in specs)
    assert await ensure_topics(servers.bootstrap, specs) == []
    partitions, _ = await describe_topic(servers.bootstrap, specs[0].name)
    assert partitions == 2


@pytest.mark.infra
async def test_a_worker_that_loses_the_race_to_create_waits_for_every_partition(
    servers: Servers, unique_name: str
) -> None:
    # Two workers starting at once: one creates the topics, the other finds them
    # existing. Neither may go on (count partitions, start its producer) before the
    # broker describes every partition, or it packs events by a partial count.
    for attempt in range(5):
        specs = [replace(spec, name=f"{unique_name}-{attempt}.{spec.name}")
                 for spec in abstream_topics(8)]

        async def start_worker(specs: list[TopicSpec]) -> dict[str, int]:
            await ensure_topics(servers.bootstrap, specs)
            return {s.name: (await describe_topic(servers.bootstrap, s.name))[0] for s in specs}

        seen = await asyncio.gather(*(start_worker(specs) for _ in range(3)))
        for counts in seen:
            assert counts == {spec.name: spec.partitions for spec in specs}


@pytest.mark.infra
async def test_a_facts_topic_compacted_by_an_earlier_version_is_made_a_retained_one(
    servers: Servers, unique_name: str
) -> None:
    # Facts were one per record, compacted by key; now a record holds many keys, which
    # a compacted topic would compact away (or refuse, keyless).
    names = TopicNames(unique_name)
    facts = next(spec for spec in abstream_topics(2, names) if spec.name == names.facts)
    await ensure_topics(servers.bootstrap, [replace(facts, config={"cleanup.policy": "compact"})])
    assert (await describe_topic(servers.bootstrap, facts.name))[1]["cleanup.policy"] == "compact"
    assert await ensure_topics(servers.bootstrap, [facts]) == []
    partitions, config = await describe_topic(servers.bootstrap, facts.name)
    assert (partitions, config["cleanup.policy"]) == (2, "delete")
    assert config["retention.ms"] == facts.config["retention.ms"]
