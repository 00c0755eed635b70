"""The gateway's batch writer alone at a fixed rate: CPU per message (this process and the broker's) and produce
requests, with and without the window (`VOLTLINE_EVENT_LINGER_MS`).

`uv run python -m bench.gateway.writer [--kafka HOST:PORT | --broker tansu] [--rate 2000] [--lingers 0,5]`:
`--writers` stations each write a 1 KB event at `rate / writers` per second and wait for its acknowledgement,
as the gateway's station calls do. Not part of `make test`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
import uuid
from typing import Any

from voltline_bus import BusConfig, TopicSpec, ensure_topics
from voltline_gateway.adapters.batch_writer import BatchWriter

from bench.gateway.procs import cpu_seconds, listener_pid


async def run(bootstrap: str, linger_ms: int, rate: float, writers: int, seconds: float) -> dict[str, Any]:
    topic = f"bench-writer-{uuid.uuid4().hex[:8]}"
    config = BusConfig(bootstrap=bootstrap, client_id="bench-writer", idempotence=False)
    await ensure_topics(config, [TopicSpec(topic, partitions=6)])
    writer = BatchWriter(config, linger_ms=linger_ms)
    await writer.start([topic])
    client = writer._producer.client  # type: ignore[union-attr]
    produce = 0
    send = client.send

    async def counted(node_id: int, request: Any, *args: Any, **kwargs: Any) -> Any:
        nonlocal produce
        produce += type(request).__name__.startswith("ProduceRequest")
        return await send(node_id, request, *args, **kwargs)

    client.send = counted
    value = b"x" * 1000
    written = 0
    interval = writers / rate
    stop = time.perf_counter() + seconds
    broker = listener_pid(int(bootstrap.rsplit(":", 1)[1]))

    async def station(n: int) -> None:
        nonlocal written
        key = f"CP-{n:06d}".encode()
        next_at = time.perf_counter() + interval * n / writers
        while next_at < stop:
            await asyncio.sleep(max(0.0, next_at - time.perf_counter()))
            await writer.write(topic, key, value, [("event_type", b"station.meter_values")])
            written += 1
            next_at += interval
            while next_at < time.perf_counter():
                next_at += interval

    cpu0, broker0 = time.process_time(), cpu_seconds(broker) if broker else 0.0
    await asyncio.gather(*(station(n) for n in range(writers)))
    cpu, broker_cpu = time.process_time() - cpu0, (cpu_seconds(broker) - broker0) if broker else None
    await writer.stop()
    return {
        "linger_ms": linger_ms,
        "messages_per_s": round(written / seconds),
        "produce_requests_per_s": round(produce / seconds),
        "messages_per_request": round(written / max(1, produce), 1),
        "writer_cpu_us_per_msg": round(1e6 * cpu / max(1, written)),
        "broker_cpu_us_per_msg": None if broker_cpu is None else round(1e6 * broker_cpu / max(1, written)),
        "load_average": round(os.getloadavg()[0], 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(prog="bench.gateway.writer")
    parser.add_argument("--kafka", default=os.environ.get("VOLTLINE_TEST_KAFKA_BOOTSTRAP"))
    parser.add_argument("--broker", default="kafka", choices=["kafka", "tansu"])
    parser.add_argument("--rate", type=float, default=2000.0)
    parser.add_argument("--writers", type=int, default=500)
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--lingers", default="0,5")
    args = parser.parse_args()
    broker = None
    if args.broker == "tansu":
        from voltline_devinfra.tansu import TansuBroker

        broker = TansuBroker().start()
        args.kafka = broker.bootstrap_servers
    try:
        for linger in (int(x) for x in args.lingers.split(",")):
            print(json.dumps(asyncio.run(run(args.kafka, linger, args.rate, args.writers, args.seconds))), flush=True)
    finally:
        if broker is not None:
            broker.stop()


if __name__ == "__main__":
    main()
