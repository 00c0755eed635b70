"""ensure_topics against a real broker."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from structlog.testing import capture_logs
from voltline_bus import BrokerUnavailable, BusConfig, TopicSpec, ensure_topics
from voltline_bus.admin import _create


async def topic_configs(config: BusConfig, topic: str) -> dict[str, str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=config.bootstrap)
    await admin.start()
    try:
        [response] = await admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
    finally:
        await admin.close()
    [(_code, _msg, _type, _name, entries)] = response.resources
    return {entry[0]: entry[1] for entry in entries}


async def test_ensure_topics_is_idempotent_and_applies_configs(kit: Any) -> None:
    specs = [
        TopicSpec(kit.topic("registry"), partitions=3, compacted=True),
        TopicSpec(kit.topic("replies"), retention_ms=60_000),
    ]
    await ensure_topics(kit.config, specs)
    await ensure_topics(kit.config, specs)  # already there: fine

    assert await kit.producer.partitions_for(kit.topic("registry")) == {0, 1, 2}
    assert (await topic_configs(kit.config, kit.topic("registry")))["cleanup.policy"] == "compact"
    assert (await topic_configs(kit.config, kit.topic("replies")))["retention.ms"] == "60000"


async def test_existing_topic_with_other_partition_count_is_left_alone(kit: Any) -> None:
    await ensure_topics(kit.config, [TopicSpec(kit.topic("t"), partitions=2)])
    with capture_logs() as logs:
        await ensure_topics(kit.config, [TopicSpec(kit.topic("t"), partitions=4)])
    assert await kit.producer.partitions_for(kit.topic("t")) == {0, 1}
    assert any(e["event"].startswith("existing topic has a different partition count") for e in logs)


async def test_unreachable_broker_gives_a_clear_error_after_the_deadline() -> None:
    config = BusConfig(bootstrap="127.0.0.1:1", client_id="t", connect_timeout=1.0)
    started = time.monotonic()
    with pytest.raises(BrokerUnavailable, match=r"Kafka at 127.0.0.1:1 not reachable within 1s"):
        await ensure_topics(config, [TopicSpec("x")])
    assert 0.5 < time.monotonic() - started < 5


class _RefusesConfigs:
    """A broker stand-in that rejects topic configs the way a minimal Kafka-compatible broker may."""

    def __init__(self) -> None:
        self.requests: list[list[tuple[str, dict[str, str]]]] = []

    async def create_topics(self, new_topics: list[Any]) -> Any:
        self.requests.append([(t.name, dict(t.topic_configs)) for t in new_topics])
        errors = [(t.name, 40 if t.topic_configs else 0, "configs not supported") for t in new_topics]
        return SimpleNamespace(topic_errors=errors)


async def test_topic_configs_refused_by_the_broker_fall_back_to_plain_topics() -> None:
    admin = _RefusesConfigs()
    with capture_logs() as logs:
        done = await _create(admin, [TopicSpec("compacted", compacted=True), TopicSpec("plain")], 1)  # type: ignore[arg-type]
    assert done
    assert admin.requests == [
        [("compacted", {"cleanup.policy": "compact"}), ("plain", {})],
        [("compacted", {})],
    ]
    assert [e["event"] for e in logs if e["log_level"] == "warning"] == [
        "broker refused topic configs, creating the topic without them"
    ]
