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
from voltline_events import Topics
from voltline_events.topics import DEAD_LETTERS, DECLARED, REPLIES, declared


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
    assert any(e["event"].startswith("existing topic differs from its declaration") for e in logs)


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


def test_every_topic_name_resolves_to_its_declaration_whatever_the_prefix() -> None:
    topics = Topics("e2e-1234.")
    assert declared(topics.sessions) == DECLARED["voltline.session.events.v1"]
    assert declared(Topics.dead_letter(topics.station_events)) == DEAD_LETTERS
    assert declared(topics.gateway_replies("gw-1")) == declared(topics.service_replies("session", "a-b")) == REPLIES
    assert declared("someone.elses.topic") is None
    for name in ("auth_requests", "billing", "gateway_presence", "station_events", "sessions"):
        assert declared(getattr(topics, name)).partitions >= 6, name  # type: ignore[union-attr]


async def test_declared_topics_are_created_as_declared_whoever_asks_first(kit: Any) -> None:
    """Billing used to create the session events topic with 1 partition when it started first."""
    topics = Topics(kit.prefix)
    await ensure_topics(kit.config, [TopicSpec(topics.sessions), TopicSpec(topics.auth_requests, partitions=1)])
    await ensure_topics(kit.config, [TopicSpec.of(topics.sessions), TopicSpec(topics.gateway_presence)])
    assert len(await kit.producer.partitions_for(topics.sessions)) == 6
    assert len(await kit.producer.partitions_for(topics.auth_requests)) == 6
    assert (await topic_configs(kit.config, topics.auth_requests))["retention.ms"] == "3600000"
    assert (await topic_configs(kit.config, topics.gateway_presence))["cleanup.policy"] == "compact"


async def test_an_existing_topic_that_differs_from_its_declaration_is_reported_with_the_fix(kit: Any) -> None:
    topics = Topics(kit.prefix)
    admin = AIOKafkaAdminClient(bootstrap_servers=kit.config.bootstrap)
    await admin.start()
    try:
        from aiokafka.admin import NewTopic

        await admin.create_topics([NewTopic(topics.gateway_presence, 2, 1)])  # as an auto-creating broker would
    finally:
        await admin.close()
    with capture_logs() as logs:
        await ensure_topics(kit.config, [TopicSpec(topics.gateway_presence, compacted=True)])
    errors = [e for e in logs if e["log_level"] == "error"]
    assert {(e.get("declared"), e.get("actual")) for e in errors} == {(6, 2), ("compact", "delete")}
    assert all("--alter" in e["fix"] for e in errors)


async def test_clients_never_create_a_topic_by_naming_it(kit: Any) -> None:
    """The test broker still auto-creates on request; voltline's clients never ask it to."""
    from aiokafka import AIOKafkaProducer

    name = kit.topic("never-declared")
    producer = AIOKafkaProducer(bootstrap_servers=kit.config.bootstrap, request_timeout_ms=1000)
    await producer.start()
    try:
        with pytest.raises(Exception):  # noqa: B017 - aiokafka raises a timeout of its own kind
            await producer.partitions_for(name)
    finally:
        await producer.stop()
    admin = AIOKafkaAdminClient(bootstrap_servers=kit.config.bootstrap)
    await admin.start()
    try:
        assert name not in await admin.list_topics()
    finally:
        await admin.close()
