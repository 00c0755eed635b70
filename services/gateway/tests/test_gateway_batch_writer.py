"""The batch writer on real Kafka: every message acknowledged, per key in order, across many full batches."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from aiokafka import AIOKafkaConsumer
from voltline_bus import BusConfig, TopicSpec, ensure_topics
from voltline_gateway.adapters.batch_writer import MAX_BATCH_BYTES, BatchWriter


async def test_a_burst_larger_than_a_batch_is_stored_in_order(kafka: Any) -> None:
    topic = f"bw-{uuid.uuid4().hex[:8]}"
    config = BusConfig(bootstrap=kafka.bootstrap_servers, client_id="bw-test")
    await ensure_topics(config, [TopicSpec(topic, partitions=3)])
    writer = BatchWriter(config)
    await writer.start([topic])
    keys = [f"CP-{k}".encode() for k in range(5)]
    count = 3 * MAX_BATCH_BYTES // 1000  # about three full batches per partition
    try:
        stored = [
            writer.enqueue(topic, keys[i % 5], f"{i:08d}".encode() + b"x" * 992, [("n", str(i).encode())])
            for i in range(count)
        ]
        await asyncio.gather(*stored)
    finally:
        await writer.stop()
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=kafka.bootstrap_servers, auto_offset_reset="earliest")
    await consumer.start()
    seen: dict[bytes, list[int]] = {k: [] for k in keys}
    try:
        async with asyncio.timeout(60):
            while sum(map(len, seen.values())) < count:
                for records in (await consumer.getmany(timeout_ms=1000)).values():
                    for record in records:
                        seen[record.key].append(int(record.value[:8]))
    finally:
        await consumer.stop()
    for k, key in enumerate(keys):
        assert seen[key] == list(range(k, count, 5))  # all of them, once, in the order written
