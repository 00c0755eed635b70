"""The spool replayed to a restarted embedded broker (real tansu, as under `make run`): a station's events come back
in the order they were acknowledged, and what the station sends meanwhile comes after them (ADR 0045)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from voltline_bus import BusConfig, TopicSpec, ensure_topics
from voltline_gateway.adapters.batch_writer import BatchWriter
from voltline_gateway.adapters.spool import Spool

tansu_module = pytest.importorskip("voltline_devinfra.tansu")
TOPICS = ("t.station.events", "t.station.lifecycle")
SPECS = [TopicSpec(TOPICS[0], partitions=6), TopicSpec(TOPICS[1], partitions=6)]
KEY = b"CP-LEFT"


@pytest.fixture
def tansu() -> Iterator[Any]:
    with tansu_module.TansuBroker() as broker:
        yield broker


def _event(kind: str) -> tuple[bytes, list[tuple[str, bytes]]]:
    return json.dumps({"type": kind}).encode(), [("event_type", kind.encode())]


async def _published(writer: BatchWriter, kind: str) -> list[asyncio.Future[None]]:
    """As the gateway's bus publishes a lifecycle event: the stream's copy, then the lifecycle copy."""
    value, headers = _event(kind)
    return [writer.enqueue(topic, KEY, value, headers) for topic in TOPICS]


async def _kinds(tansu: Any, topic: str, count: int) -> list[str]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=tansu.bootstrap_servers, auto_offset_reset="earliest")
    await consumer.start()
    seen: list[str] = []
    try:
        async with asyncio.timeout(30):
            while len(seen) < count:
                for records in (await consumer.getmany(timeout_ms=500)).values():
                    seen += [json.loads(r.value)["type"] for r in records if r.key == KEY]
    finally:
        await consumer.stop()
    return seen


async def test_a_station_that_left_before_the_broker_died_is_replayed_in_order_and_its_return_after(
    tansu: Any, tmp_path: Path
) -> None:
    config = BusConfig(bootstrap=tansu.bootstrap_servers, client_id="replay-test", idempotence=False)
    await ensure_topics(config, SPECS)
    spool = Spool(tmp_path)
    spool.open()
    writer = BatchWriter(config, spool=spool, spooled_topics=frozenset(TOPICS))
    await writer.start(list(TOPICS))
    try:
        for kind in ("station.connected", "station.boot_notification", "station.disconnected"):
            await asyncio.gather(*await _published(writer, kind))  # acknowledged, so spooled
        await asyncio.to_thread(tansu.kill)
        await asyncio.to_thread(tansu.revive)  # empty, a new cluster id
        await ensure_topics(config, SPECS)  # what the gateway's reset does first, then the replay
        replay = asyncio.create_task(writer.replay(chunk=2))  # the connect's copies first, then the rest
        await asyncio.sleep(0)  # the replay has begun, its first chunk is on its way: the station comes back
        back = await _published(writer, "station.connected")
        assert await replay == 6
        await asyncio.gather(*back)
    finally:
        await writer.stop()
        spool.close()
    expected = ["station.connected", "station.boot_notification", "station.disconnected", "station.connected"]
    for topic in TOPICS:
        assert await _kinds(tansu, topic, 4) == expected, topic
