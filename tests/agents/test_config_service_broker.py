"""The write order against the real broker: what the broker refuses never applies."""

from __future__ import annotations

import uuid
from dataclasses import replace

import pytest

from agents.config_service import ConfigService
from agents.experiment_admin import AdminError, ExperimentAdmin
from tests.servers import Servers
from topology.topics import TopicNames, abstream_topics, ensure_topics

pytestmark = pytest.mark.infra


async def test_an_audit_record_the_broker_refuses_leaves_the_change_unapplied(
        servers: Servers) -> None:
    names = TopicNames(f"test-{uuid.uuid4().hex[:8]}")
    # An audit topic that takes smaller records than the config topic (as an operator may
    # set it), and a bound above both: the broker, not the bound, refuses.
    specs = [replace(spec, config={**spec.config, "max.message.bytes": "12000"})
             if spec.name == names.config_audit else spec for spec in abstream_topics(1, names)]
    await ensure_topics(servers.bootstrap, specs)
    service = ConfigService(servers.bootstrap, names, max_record_bytes=4 * 1024 * 1024)
    await service.start()
    try:
        await service.ready.wait()
        admin = ExperimentAdmin(service)
        document = {"key": "big", "description": "x" * 9_000,  # valid: the audit holds it twice
                    "variants": [{"key": "a", "weight": 50}, {"key": "b", "weight": 50}]}
        with pytest.raises(AdminError) as refused:
            await admin.create(document, "alice")
        assert refused.value.status == 413 and "broker refused" in refused.value.details[0]
        assert service.state.current("experiment", "big") is None
        assert service.state.offset == 0 and admin.history("big") == []
    finally:
        await service.stop()
