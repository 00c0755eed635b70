"""Fixtures for bus tests against a real Kafka (the `kafka`/`topic_prefix` fixtures of voltline_devinfra)."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from voltline_bus import BusConfig, EventConsumer, Producer, TopicSpec, ensure_topics
from voltline_bus.consumer import Handler
from voltline_devinfra.waiting import eventually
from voltline_events import Envelope, envelope_for
from voltline_events.payloads import Heartbeat

# Fast group membership for tests: the test broker has group.initial.rebalance.delay.ms=0.
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 300}


def heartbeat(station_id: str, **extra: Any) -> Envelope:
    return envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="test/1", station_id=station_id, **extra)


class Kit:
    """Per-test helpers bound to the broker and this test's topic prefix."""

    def __init__(self, config: BusConfig, prefix: str, producer: Producer) -> None:
        self.config = config
        self.producer = producer
        self.prefix = prefix
        self._consumers: list[EventConsumer] = []

    heartbeat = staticmethod(heartbeat)
    eventually = staticmethod(eventually)

    def topic(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def topics(self, *names: str, partitions: int = 1) -> list[str]:
        full = [self.topic(n) for n in names]
        await ensure_topics(self.config, [TopicSpec(t, partitions=partitions) for t in full])
        return full

    async def consumer(self, topics: list[str], handler: Handler, *, group: str = "g", **kw: Any) -> EventConsumer:
        consumer = EventConsumer(
            self.config,
            group_id=self.topic(group),
            topics=topics,
            handler=handler,
            dead_letter=self.producer,
            consumer_options=FAST_GROUP,
            **kw,
        )
        await consumer.start()
        self._consumers.append(consumer)
        return consumer

    async def read(self, topic: str, count: int, within: float = 15.0) -> list[ConsumerRecord]:
        """All records of `topic` from the beginning, without a consumer group; waits for `count`."""
        reader = AIOKafkaConsumer(bootstrap_servers=self.config.bootstrap, enable_auto_commit=False)
        await reader.start()
        try:
            tps = [TopicPartition(topic, p) for p in sorted(await self.producer.partitions_for(topic))]
            reader.assign(tps)
            await reader.seek_to_beginning(*tps)
            out: list[ConsumerRecord] = []
            deadline = time.monotonic() + within
            while len(out) < count and time.monotonic() < deadline:
                for records in (await reader.getmany(timeout_ms=200)).values():
                    out.extend(records)
            return out
        finally:
            await reader.stop()

    async def committed(self, group: str, topic: str, partition: int = 0) -> int | None:
        admin = AIOKafkaAdminClient(bootstrap_servers=self.config.bootstrap)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(self.topic(group))
        finally:
            await admin.close()
        meta = offsets.get(TopicPartition(topic, partition))
        return None if meta is None or meta.offset < 0 else meta.offset

    async def close(self) -> None:
        for consumer in self._consumers:
            await consumer.stop(grace=5)


@pytest.fixture
def config(kafka: Any) -> BusConfig:
    return BusConfig(bootstrap=kafka.bootstrap_servers, client_id="bus-test", linger_ms=1, request_timeout_ms=10000)


@pytest.fixture
async def kit(config: BusConfig, topic_prefix: str, producer: Producer) -> AsyncIterator[Kit]:
    kit = Kit(config, topic_prefix, producer)
    yield kit
    await kit.close()


@pytest.fixture
async def producer(config: BusConfig) -> AsyncIterator[Producer]:
    async with Producer(config) as producer:
        yield producer


class Transactional:
    """A batch scope that keeps what its handlers saw only when the batch ends cleanly (a rollback otherwise)."""

    def __init__(self) -> None:
        self.committed: dict[str, list[int]] = defaultdict(list)
        self.batches: list[set[str]] = []  # the stations of each committed batch
        self.open: ContextVar[list[Envelope] | None] = ContextVar("open", default=None)  # a task: a partition or a lane

    @asynccontextmanager
    async def __call__(self, envelopes: Sequence[Envelope]) -> AsyncIterator[None]:
        pending: list[Envelope] = []
        token = self.open.set(pending)
        try:
            yield
        finally:
            self.open.reset(token)
        for envelope in pending:
            self.committed[envelope.station_id or ""].append(int(envelope.message_id or "0"))
        self.batches.append({e.station_id or "" for e in pending})

    def handled(self, envelope: Envelope) -> None:
        pending = self.open.get()
        if pending is not None:
            pending.append(envelope)
        else:  # handled alone (the retry path): its own "transaction"
            self.committed[envelope.station_id or ""].append(int(envelope.message_id or "0"))

    def count(self, station: str) -> int:
        return len(self.committed[station])


@pytest.fixture
def transactional() -> type[Transactional]:
    """The batch scope class of the lane and pipelining tests (a new one per consumer under test)."""
    return Transactional
