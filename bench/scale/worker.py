"""One consumer replica for bench.scale: an EventConsumer that prints `partition time` for every message."""

from __future__ import annotations

import asyncio
import sys
import time

from voltline_bus import BusConfig, EventConsumer, Producer
from voltline_events import Envelope


async def main(bootstrap: str, topic: str, group: str, session_timeout_ms: int, instance: str) -> None:
    config = BusConfig(
        bootstrap=bootstrap,
        client_id=f"bench-scale-{instance}",
        session_timeout_ms=session_timeout_ms,
        group_instance_id=instance or None,
    )
    producer = Producer(config)
    await producer.start()
    out = sys.stdout

    async def handle(envelope: Envelope) -> None:
        out.write(f"{envelope.station_id} {time.time():.4f}\n")

    consumer = EventConsumer(
        config, group_id=group, topics=[topic], handler=handle, dead_letter=producer, ensure_dead_letter_topics=False
    )
    await consumer.start()
    out.write("ready\n")
    out.flush()
    while True:
        await asyncio.sleep(0.05)
        out.flush()


if __name__ == "__main__":
    bootstrap, topic, group, session_ms, instance = sys.argv[1:6]
    asyncio.run(main(bootstrap, topic, group, int(session_ms), instance))
