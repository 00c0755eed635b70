"""The bus against tansu, the in-memory broker `make run` uses (idempotence off).

What works on tansu 0.6: topic creation (configs accepted), acks=all publishing with headers,
consumer groups with manual commits, dead-lettering and request/reply. What does not:
idempotent producers (InitProducerId fails), hence `BusConfig(idempotence=False)` for dev.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition
from voltline_bus import (
    BusConfig,
    BusError,
    EventConsumer,
    Producer,
    RequestReplyClient,
    TopicSpec,
    ensure_topics,
    reply,
)
from voltline_events import Envelope, Topics, decode_payload, envelope_for
from voltline_events.payloads import BootDecision, BootDecisionRequested, Heartbeat

tansu_module = pytest.importorskip("voltline_devinfra.tansu")


@pytest.fixture(scope="module")
def tansu() -> Iterator[Any]:
    with tansu_module.TansuBroker() as broker:
        yield broker


async def test_bus_works_on_tansu_without_idempotence(tansu: Any, topic_prefix: str) -> None:
    config = BusConfig(bootstrap=tansu.bootstrap_servers, client_id="tansu-test", idempotence=False)
    events, requests, replies = (f"{topic_prefix}{n}" for n in ("events", "requests", "replies"))
    await ensure_topics(config, [TopicSpec(events, partitions=2, compacted=True), TopicSpec(requests)])

    async with Producer(config) as producer:
        handled: list[Envelope] = []

        async def handle(envelope: Envelope) -> None:
            if envelope.type == BootDecisionRequested.TYPE:
                await reply(producer, envelope, BootDecision(status="Accepted", interval=60), source="auth/1")
            elif envelope.station_id == "CS-bad":
                raise RuntimeError("poison")
            else:
                handled.append(envelope)

        consumer = EventConsumer(
            config,
            group_id=f"{topic_prefix}g",
            topics=[events, requests],
            handler=handle,
            dead_letter=producer,
            max_attempts=2,
            backoff_initial=0.01,
            consumer_options={"session_timeout_ms": 3000, "heartbeat_interval_ms": 300},
        )
        async with consumer, RequestReplyClient(config, producer, replies) as rpc:
            good = envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="t", station_id="CS-1")
            bad = envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="t", station_id="CS-bad")
            await producer.publish(events, bad, key=b"CS-1")
            await producer.publish(events, good, key=b"CS-1")
            ask = envelope_for(
                BootDecisionRequested(ocpp_version="ocpp1.6", vendor="V", model="M"), source="gw", station_id="CS-1"
            )
            answer = await rpc.request(requests, ask, key=b"CS-1", timeout=20)
            assert decode_payload(answer) == BootDecision(status="Accepted", interval=60)
            for _ in range(200):
                if handled:
                    break
                await asyncio.sleep(0.05)
            assert handled == [good]

    # The poison message reached the dead-letter topic (read without a group).
    reader = AIOKafkaConsumer(bootstrap_servers=tansu.bootstrap_servers, enable_auto_commit=False)
    await reader.start()
    try:
        dead_tp = TopicPartition(Topics.dead_letter(events), 0)
        reader.assign([dead_tp])
        await reader.seek_to_beginning(dead_tp)
        records = (await reader.getmany(dead_tp, timeout_ms=5000)).get(dead_tp, [])
    finally:
        await reader.stop()
    assert [Envelope.from_bytes(r.value) for r in records] == [bad]
    assert dict(records[0].headers)["dlq.attempts"] == b"2"


async def test_idempotent_producer_is_refused_by_tansu(tansu: Any, topic_prefix: str) -> None:
    config = BusConfig(bootstrap=tansu.bootstrap_servers, client_id="tansu-test", request_timeout_ms=5000)
    await ensure_topics(config, [TopicSpec(f"{topic_prefix}x")])
    producer = Producer(config)
    with pytest.raises(BusError, match=r"idempotence=False"):
        await producer.start()
