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


async def test_with_a_linger_the_batches_of_every_partition_leave_in_few_produce_requests(kafka: Any) -> None:
    """Without a linger each message handed to an idle partition left at once in its own produce request (~one
    request per message at a few hundred messages/s, for the gateway and the broker to handle); with one, every
    partition's batch waits for the writer's window to close and they share one request, all acknowledged."""
    topic = f"bw-{uuid.uuid4().hex[:8]}"
    config = BusConfig(bootstrap=kafka.bootstrap_servers, client_id="bw-test")
    await ensure_topics(config, [TopicSpec(topic, partitions=3)])
    writer = BatchWriter(config, linger_ms=1000)  # long: a loaded machine may stretch the sleeps below
    await writer.start([topic])
    client = writer._producer.client  # type: ignore[union-attr]
    requests: list[str] = []
    send = client.send

    async def counted(node_id: int, request: Any, *args: Any, **kwargs: Any) -> Any:
        requests.append(type(request).__name__)
        return await send(node_id, request, *args, **kwargs)

    client.send = counted
    try:
        stored = []
        for i in range(9):  # spread over ~40 ms and the three partitions
            stored.append(writer.enqueue(topic, f"CP-{i}".encode(), b"x" * 100, []))
            await asyncio.sleep(0.005)
        await asyncio.gather(*stored)
    finally:
        await writer.stop()
    produce = [name for name in requests if name.startswith("ProduceRequest")]
    assert produce == ["ProduceRequest"]  # without the window: 7-9 of them


async def test_a_lane_cancelled_in_the_window_does_not_stop_the_others(kafka: Any) -> None:
    """Every lane waits on the same window: cancelling one (a writer stopping a flush) must not cancel the window
    itself, or the other lanes' messages would never be handed over (their writers waiting out their timeout)."""
    topic = f"bw-{uuid.uuid4().hex[:8]}"
    config = BusConfig(bootstrap=kafka.bootstrap_servers, client_id="bw-test")
    await ensure_topics(config, [TopicSpec(topic, partitions=3)])
    writer = BatchWriter(config, linger_ms=200)
    await writer.start([topic])
    try:
        keys = [f"CP-{n}".encode() for n in range(30)]
        by_partition = {writer._partitioner(k, [0, 1, 2], [0, 1, 2]): k for k in keys}
        writer.enqueue(topic, by_partition[0], b"a", [])
        [cancelled] = writer._flushers
        second = writer.enqueue(topic, by_partition[1], b"b", [])
        await asyncio.sleep(0)  # both lanes now wait on the window
        cancelled.cancel()
        async with asyncio.timeout(10):
            await second  # handed over when the window closes, and acknowledged
    finally:
        await writer.stop()
