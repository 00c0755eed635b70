"""A consumer whose group was rejoined before its topic was recreated reads the topic once it is.

After the embedded broker restarted empty, a consumer rejoins the new broker's group as soon as it can, often
before its service's reset handler has recreated the topics: the join assigns no partition of a topic the
client knows none of, and aiokafka asked for the metadata again only when it was `metadata_max_age_ms`
(5 minutes) old. The session service read nothing for minutes after a kill under load, and the broker-kill
bench counted the transactions answered meanwhile as lost (session 11, kills11; ADR 0045's amendment).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from voltline_bus import BusConfig, BusError, EventConsumer, Producer, TopicSpec, ensure_topics
from voltline_devinfra.waiting import eventually
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import Heartbeat

tansu_module = pytest.importorskip("voltline_devinfra.tansu")


@pytest.fixture
def tansu() -> Iterator[Any]:
    with tansu_module.TansuBroker() as broker:
        yield broker


@pytest.mark.parametrize("pipelined", [False, True])
async def test_a_topic_recreated_after_the_group_was_rejoined_is_read_within_seconds(
    tansu: Any, topic_prefix: str, pipelined: bool
) -> None:
    config = BusConfig(bootstrap=tansu.bootstrap_servers, client_id="tansu-test", idempotence=False)
    topic = f"{topic_prefix}events"
    seen: list[str] = []

    async def handle(envelope: Envelope) -> None:
        seen.append(envelope.station_id or "")

    def heartbeat(station_id: str) -> Envelope:
        return envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="test/1", station_id=station_id)

    await ensure_topics(config, [TopicSpec(topic, partitions=2)])
    async with Producer(config) as producer:
        consumer = EventConsumer(
            config,
            group_id=f"{topic_prefix}g",
            topics=[topic],
            handler=handle,
            dead_letter=producer,
            ensure_dead_letter_topics=False,
            pipeline_partitions=pipelined,
            consumer_options={"session_timeout_ms": 6000, "heartbeat_interval_ms": 300},
        )
        async with consumer:
            await producer.publish(topic, heartbeat("CS-BEFORE"), key=b"CS-BEFORE")
            await eventually(lambda: seen == ["CS-BEFORE"], within=30, what="the first record read")
            tansu.kill()
            assert tansu.revive()  # empty: no topic, no group

            def rejoined_with_nothing() -> bool:
                kafka = consumer._consumer
                return kafka is not None and kafka._coordinator.generation >= 0 and not kafka.assignment()

            await eventually(rejoined_with_nothing, within=60, what="the group rejoined before the topic exists")
            await ensure_topics(config, [TopicSpec(topic, partitions=2)])  # what the reset handler does
            created = time.monotonic()
            await eventually(lambda: _sent(producer, topic, heartbeat("CS-AFTER")), within=30, what="published")
            await eventually(lambda: "CS-AFTER" in seen, within=60, what="the recreated topic's record read")
            assert time.monotonic() - created < 30, "read only once aiokafka's metadata had aged"


async def _sent(producer: Producer, topic: str, envelope: Envelope) -> bool:
    try:
        await producer.publish(topic, envelope, key=b"CS-AFTER")
    except BusError:
        return False
    return True
