"""Clients ride out a broker restart: aiokafka reconnects, nothing is lost."""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest
from voltline_bus import BrokerProbe, BrokerUnavailable, EventConsumer, Producer, check_broker
from voltline_events import Envelope


@pytest.fixture(scope="module")
def kafka(private_kafka: Any) -> Any:
    """This module pauses the broker: one no other xdist worker shares (voltline_devinfra.pytest_plugin)."""
    return private_kafka


async def test_publish_and_consume_survive_a_broker_restart(kafka: Any, kit: Any) -> None:
    [topic] = await kit.topics("outage")
    config = dataclasses.replace(kit.config, request_timeout_ms=60000)
    handled: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope)

    async with Producer(config) as producer:
        consumer = EventConsumer(
            config,
            group_id=kit.topic("g"),
            topics=[topic],
            handler=handle,
            dead_letter=producer,
            consumer_options={"session_timeout_ms": 10000, "heartbeat_interval_ms": 500},
        )
        async with consumer:
            before = kit.heartbeat("CS-1")
            await producer.publish(topic, before, key=b"CS-1")
            await kit.eventually(lambda: handled == [before], what="first message")

            await asyncio.to_thread(kafka.pause)
            during = kit.heartbeat("CS-1")
            publishing = asyncio.create_task(producer.publish(topic, during, key=b"CS-1"))
            await asyncio.sleep(1.0)
            assert not publishing.done()  # no ack while the broker is down
            began = time.monotonic()
            await asyncio.to_thread(kafka.resume)
            await asyncio.wait_for(publishing, 60)
            await kit.eventually(lambda: len(handled) == 2, within=60, what="message published during the outage")
            assert handled[1] == during
            print(f"recovered {time.monotonic() - began:.1f}s after resume started")
    assert await kit.committed("g", topic) == 2


async def test_readiness_says_not_ready_within_seconds_of_the_broker_going_away(kafka: Any, kit: Any) -> None:
    """/readyz's Kafka check keeps one connection and reuses a success for a second (voltline_bus.ready), yet a
    broker that went away fails it within a few seconds, and it recovers once the broker is back."""
    probe = BrokerProbe(kit.config)

    async def ready() -> bool:
        try:
            await probe.check()
        except BrokerUnavailable:
            return False
        return True

    try:
        assert await ready()
        await check_broker(kit.config)
        await asyncio.to_thread(kafka.pause)
        try:
            gone = time.monotonic()
            await kit.eventually(lambda: _not(ready), within=30, what="the probe to say not ready")
            assert time.monotonic() - gone < 8, "not ready within a few seconds of the broker going away"
            with pytest.raises(BrokerUnavailable):
                await check_broker(kit.config)
        finally:
            await asyncio.to_thread(kafka.resume)
        await kit.eventually(ready, within=60, what="the probe to say ready again")
        await check_broker(kit.config)
    finally:
        await probe.close()


async def _not(check: Any) -> bool:
    return not await check()
