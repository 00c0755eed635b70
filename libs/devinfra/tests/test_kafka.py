"""Real Kafka through the session fixture: round trip, and data surviving pause()/resume()."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from voltline_devinfra._kafka_wire import fetch_metadata, metadata_ready
from voltline_devinfra._proc import ServerError, free_port
from voltline_devinfra.kafka import KafkaServer, ensure_kafka_jars, kafka_home


@pytest.fixture(scope="module")
def kafka(private_kafka: Any) -> Any:
    """This module pauses the broker: one no other xdist worker shares (voltline_devinfra.pytest_plugin)."""
    return private_kafka


async def _create_topic(bootstrap: str, topic: str) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    finally:
        await admin.close()


async def _consume(bootstrap: str, topic: str, count: int, group: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    values: list[bytes] = []
    try:
        async with asyncio.timeout(60):
            while len(values) < count:
                batch = await consumer.getmany(timeout_ms=1000)
                values += [msg.value for msgs in batch.values() for msg in msgs if msg.value is not None]
        await consumer.commit()
    finally:
        await consumer.stop()
    return values


async def test_produce_and_consume_one_message(kafka: KafkaServer, topic_prefix: str) -> None:
    topic = f"{topic_prefix}roundtrip"
    await _create_topic(kafka.bootstrap_servers, topic)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, b"hello", key=b"cp-1")
    finally:
        await producer.stop()
    assert await _consume(kafka.bootstrap_servers, topic, 1, f"{topic_prefix}g") == [b"hello"]


async def test_pause_resume_keeps_topic_data(kafka: KafkaServer, topic_prefix: str) -> None:
    topic = f"{topic_prefix}durable"
    await _create_topic(kafka.bootstrap_servers, topic)
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap_servers, enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for i in range(10):
            await producer.send_and_wait(topic, f"m{i}".encode())
    finally:
        await producer.stop()
    address = kafka.bootstrap_servers

    await asyncio.to_thread(kafka.pause)
    assert not kafka.is_running
    assert not metadata_ready(kafka.host, kafka.port, timeout=0.5)
    await asyncio.to_thread(kafka.resume)

    assert kafka.bootstrap_servers == address  # same port: clients reconnect to the same place
    assert await _consume(kafka.bootstrap_servers, topic, 10, f"{topic_prefix}g") == [
        f"m{i}".encode() for i in range(10)
    ]


def test_metadata_probe(kafka: KafkaServer) -> None:
    meta = fetch_metadata(kafka.host, kafka.port)
    assert [(b.host, b.port) for b in meta.brokers] == [(kafka.host, kafka.port)]
    assert not metadata_ready("127.0.0.1", free_port(), timeout=0.5)


def test_jar_cache_is_reused() -> None:
    libs = ensure_kafka_jars()
    assert libs == kafka_home() / "libs"
    assert (libs / "kafka_2.13-3.9.1.jar").is_file()
    assert (libs / "slf4j-reload4j-1.7.36.jar").is_file()  # otherwise the broker logs nothing


def test_startup_failure_reports_log_tail() -> None:
    server = KafkaServer(properties={"num.io.threads": "not-a-number"})
    with pytest.raises(ServerError, match="not-a-number"):
        server.start()
    assert not server.is_running
