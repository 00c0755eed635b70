"""The embedded tansu broker used by `make run`, driven with aiokafka."""

from __future__ import annotations

import asyncio
import platform
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from voltline_devinfra._proc import ServerError, port_open
from voltline_devinfra.tansu import TansuBroker

_EEVDF_SLICES = tuple(int(p) for p in platform.release().split(".")[:2] if p.isdigit()) >= (6, 12)


@pytest.fixture(scope="module")
def tansu() -> Iterator[TansuBroker]:
    with TansuBroker() as broker:
        yield broker


async def test_produce_and_consume(tansu: TansuBroker, topic_prefix: str) -> None:
    topic = f"{topic_prefix}tansu"
    admin = AIOKafkaAdminClient(bootstrap_servers=tansu.bootstrap_servers)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()

    # tansu cannot serve InitProducerId, so idempotence must be off.
    producer = AIOKafkaProducer(bootstrap_servers=tansu.bootstrap_servers, enable_idempotence=False)
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello tansu")
    finally:
        await producer.stop()

    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=tansu.bootstrap_servers,
        group_id=f"{topic_prefix}g",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        # tansu holds a group's first JoinGroup for session_timeout_ms / 2 (5 s by default).
        session_timeout_ms=2000,
        heartbeat_interval_ms=500,
    )
    await consumer.start()
    try:
        msg = await asyncio.wait_for(consumer.getone(), timeout=30)
        await consumer.commit()
    finally:
        await consumer.stop()
    assert msg.value == b"hello tansu"


def test_stop_frees_port_and_fixed_port_clash_is_reported(tansu: TansuBroker) -> None:
    with pytest.raises(ServerError, match="already in use"):
        TansuBroker(port=tansu.port).start()
    broker = TansuBroker().start()
    port = broker.port
    broker.stop()
    assert not broker.is_running
    assert not port_open("127.0.0.1", port)


@pytest.mark.skipif(not _EEVDF_SLICES, reason="custom scheduler slices need Linux 6.12")
def test_make_runs_broker_has_the_request_paths_slice_on_every_thread() -> None:
    """Every answer a station waits on passes through the embedded broker: its runtime's threads all have it."""
    broker = TansuBroker(slice_us=200).start()
    try:
        pid = broker._proc.pid  # type: ignore[union-attr]
        slices = {
            int(line.split(":")[1]) // 1000
            for task in Path(f"/proc/{pid}/task").iterdir()
            for line in (task / "sched").read_text().splitlines()
            if line.startswith("se.slice")
        }
        assert slices == {200}
    finally:
        broker.stop()
