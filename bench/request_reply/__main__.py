"""Where a request/reply hop's time goes on an idle broker: `uv run python -m bench.request_reply`.

Publishes one record at a time to a topic that a consumer (no group, like a gateway's reply reader)
reads, and prints the produce-to-consume latency for each `fetch_max_wait_ms`, on tansu (started
here, the `make run` broker) and on Kafka (`--kafka` or VOLTLINE_TEST_KAFKA_BOOTSTRAP). tansu answers a
fetch only after sleeping part of `fetch_max_wait_ms` (half of it when 250 ms or more, else all of
it), even when records are there: each hop of a request and its reply cost 250-500 ms at aiokafka's
default of 500 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import time
import uuid

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from voltline_bus import BusConfig, TopicSpec, ensure_topics
from voltline_devinfra.tansu import TansuBroker

from bench.gateway.procs import machine


async def hop_latency(bootstrap: str, wait_ms: int, count: int) -> dict[str, float]:
    topic = f"bench-rr-{uuid.uuid4().hex[:8]}"
    await ensure_topics(BusConfig(bootstrap=bootstrap, client_id="bench-rr", idempotence=False), [TopicSpec(topic)])
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=0, enable_idempotence=False)
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=wait_ms)
    await producer.start()
    await consumer.start()
    try:
        tp = TopicPartition(topic, 0)
        consumer.assign([tp])
        await consumer.seek_to_end(tp)
        await consumer.position(tp)
        samples = []
        for _ in range(count):
            sent = time.perf_counter()
            await producer.send_and_wait(topic, b"x", partition=0)
            while not (await consumer.getmany(tp, timeout_ms=2000)).get(tp):
                pass
            samples.append((time.perf_counter() - sent) * 1000)
            await asyncio.sleep(0.05)
        samples.sort()
        return {
            "p50_ms": round(statistics.median(samples), 1),
            "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 1),
        }
    finally:
        await consumer.stop()
        await producer.stop()


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.request_reply")
    parser.add_argument("--kafka", default=os.environ.get("VOLTLINE_TEST_KAFKA_BOOTSTRAP"))
    parser.add_argument("--count", type=int, default=40)
    parser.add_argument("--waits", default="500,100,10")
    args = parser.parse_args()
    print(f"machine: {machine()}, load average {os.getloadavg()[0]:.1f}", flush=True)
    waits = [int(w) for w in args.waits.split(",")]
    with TansuBroker() as tansu:
        brokers = {"tansu": tansu.bootstrap_servers}
        if args.kafka:
            brokers["kafka"] = args.kafka
        for name, bootstrap in brokers.items():
            for wait in waits:
                figures = asyncio.run(hop_latency(bootstrap, wait, args.count))
                print(json.dumps({"broker": name, "fetch_max_wait_ms": wait, **figures}), flush=True)


if __name__ == "__main__":
    main()
