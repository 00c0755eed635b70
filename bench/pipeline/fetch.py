"""How fast a bare consumer drains a backlog from the broker, by fetch wait: is the broker's fetch the limit?

`uv run python -m bench.pipeline.fetch --kafka HOST:PORT [--events 20000]`: writes `--events` 1 KB records
to a fresh 6-partition topic in acknowledged batches of 50 (as the gateway's writer does), then drains them
with one consumer per fetch wait (500 ms: aiokafka's default; 100 ms: auth's station events; 10 ms: the
request path) and prints records/s, records per getmany and the client's CPU seconds. Written for tansu,
which holds a fetch for part of its wait even when records are there; not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def fill(bootstrap: str, topic: str, events: int) -> float:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, 6, 1)])
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=False, acks="all")
    await producer.start()
    started = time.perf_counter()
    try:
        pending = []
        for i in range(events):
            pending.append(await producer.send(topic, b"x" * 1000, key=f"CP-{i % 200}".encode()))
            if len(pending) == 50:
                await asyncio.gather(*pending)
                pending = []
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return time.perf_counter() - started


async def drain(bootstrap: str, topic: str, events: int, wait_ms: int) -> dict[str, object]:
    consumer = AIOKafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        group_id=f"fetch-{uuid.uuid4().hex[:6]}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        fetch_max_wait_ms=wait_ms,
    )
    await consumer.start()
    got, sizes = 0, []
    started, cpu = time.perf_counter(), time.process_time()
    try:
        while got < events and time.perf_counter() - started < 120:
            batch = await consumer.getmany(timeout_ms=1000, max_records=2000)
            size = sum(len(records) for records in batch.values())
            if size:
                sizes.append(size)
            got += size
    finally:
        await consumer.stop()
    elapsed = time.perf_counter() - started
    sizes.sort()
    return {
        "fetch_max_wait_ms": wait_ms,
        "records": got,
        "records_per_s": round(got / elapsed),
        "getmany_median_records": sizes[len(sizes) // 2] if sizes else 0,
        "client_cpu_s": round(time.process_time() - cpu, 2),
    }


async def main(bootstrap: str, events: int) -> None:
    topic = f"bench-fetch-{uuid.uuid4().hex[:6]}"
    print(json.dumps({"filled_s": round(await fill(bootstrap, topic, events), 1), "events": events}), flush=True)
    for wait_ms in (500, 100, 10):
        result = await drain(bootstrap, topic, events, wait_ms)
        print(json.dumps({**result, "load_average": round(os.getloadavg()[0], 1)}), flush=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="bench.pipeline.fetch")
    parser.add_argument("--kafka", default=os.environ.get("VOLTLINE_TEST_KAFKA_BOOTSTRAP"), required=False)
    parser.add_argument("--events", type=int, default=20_000)
    args = parser.parse_args()
    if not args.kafka:
        raise SystemExit("give --kafka HOST:PORT")
    asyncio.run(main(args.kafka, args.events))
