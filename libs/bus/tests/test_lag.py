"""Consumer lag is counted to the partition's end, not to what the consumer last fetched."""

from __future__ import annotations

import asyncio
from typing import Any

from voltline_bus import Outgoing
from voltline_events import Envelope


async def test_lag_of_a_starved_consumer_counts_what_it_has_not_fetched(kit: Any) -> None:
    """A consumer stuck on its first record holds unhandled records in its fetch buffer, so it fetches nothing
    more: records produced since were missing from the lag (the last fetch's high watermark)."""
    [topic] = await kit.topics("lag")
    await kit.producer.publish_many([Outgoing(topic, kit.heartbeat("CS-1"), b"CS-1") for _ in range(5)])
    stuck, release = asyncio.Event(), asyncio.Event()

    async def handle(envelope: Envelope) -> None:
        stuck.set()
        await release.wait()

    consumer = await kit.consumer([topic], handle, max_poll_records=1)
    try:
        await asyncio.wait_for(stuck.wait(), timeout=15)
        await kit.producer.publish_many([Outgoing(topic, kit.heartbeat("CS-1"), b"CS-1") for _ in range(20)])
        # Nothing handled yet: all 25 records are beyond the group's start (offset 0).
        assert await consumer.lag() == {f"{topic}[0]": 25}
    finally:
        release.set()
    await kit.eventually(lambda: _zero(consumer), what="lag back to zero once handled")


async def _zero(consumer: Any) -> bool:
    return set((await consumer.lag()).values()) == {0}
