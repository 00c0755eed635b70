"""Deleting reply topics nobody reads any more.

Every requesting instance owns a reply topic named after its instance id. An instance that goes away
for good (a rollout with new pod names, a scaled-down replica) leaves its topic behind. A live
`RequestReplyClient` writes a keepalive marker to its own topic every `KEEPALIVE_S` (well within the
topic's retention), so a reply topic that holds no record newer than `stale_after_s` and has had
records has no live reader: it is deleted. A topic that never had a record (an instance that is just
starting) is left alone.
"""

from __future__ import annotations

import time

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from voltline_bus._closing import stop_client
from voltline_bus.config import BusConfig

log = structlog.get_logger()

KEEPALIVE_HEADER = "voltline.keepalive"
KEEPALIVE_S = 600.0
STALE_AFTER_S = 3 * 3600.0
_DLQ = ".dlq"


def is_reply_topic(name: str, prefix: str) -> bool:
    """`<prefix>voltline.<service>.replies.<instance>` (not its dead-letter topic)."""
    if not name.startswith(f"{prefix}voltline.") or name.endswith(_DLQ):
        return False
    parts = name[len(prefix) :].split(".")
    return len(parts) >= 4 and parts[2] == "replies"


async def stale_reply_topics(
    config: BusConfig, prefix: str, *, alive: str, stale_after_s: float = STALE_AFTER_S
) -> list[str]:
    """Reply topics under `prefix` whose newest record is older than `stale_after_s` (see module doc).

    `alive` is the caller's own reply topic, just marked alive: if the broker judges it stale too, its
    record timestamps cannot be trusted and nothing is reported stale.
    """
    admin = AIOKafkaAdminClient(**config.connection(), client_id=f"{config.client_id}-reaper")
    await admin.start()
    try:
        names = [t for t in await admin.list_topics() if is_reply_topic(t, prefix) and t != alive]
        if not names:
            return []
        described = await admin.describe_topics([alive, *names])
    finally:
        await admin.close()
    partitions = {d["topic"]: sorted(p["partition"] for p in d.get("partitions", ())) for d in described}
    consumer = AIOKafkaConsumer(**config.connection(), client_id=f"{config.client_id}-reaper")
    await consumer.start()
    try:
        cutoff_ms = int((time.time() - stale_after_s) * 1000)

        async def is_stale(name: str) -> bool:
            tps = [TopicPartition(name, p) for p in partitions.get(name, ())]
            if not tps:
                return False
            ends = await consumer.end_offsets(tps)
            if not any(ends.values()):
                return False  # never written to: a reader may be starting right now
            newer = await consumer.offsets_for_times(dict.fromkeys(tps, cutoff_ms))
            return all(found is None for found in newer.values())

        if await is_stale(alive) or not partitions.get(alive):
            log.warning("broker timestamps look unreliable; no reply topic deleted", alive=alive)
            return []
        return [name for name in sorted(names) if await is_stale(name)]
    finally:
        await stop_client(consumer, what="reply topic reaper")


async def reap_reply_topics(
    config: BusConfig, prefix: str, *, alive: str, stale_after_s: float = STALE_AFTER_S
) -> list[str]:
    """Delete the stale reply topics under `prefix`; returns their names. Never raises on Kafka errors."""
    try:
        stale = await stale_reply_topics(config, prefix, alive=alive, stale_after_s=stale_after_s)
        if not stale:
            return []
        admin = AIOKafkaAdminClient(**config.connection(), client_id=f"{config.client_id}-reaper")
        await admin.start()
        try:
            await admin.delete_topics(stale)
        finally:
            await admin.close()
    except (KafkaError, OSError) as exc:
        log.warning("reply topic clean-up failed; trying again later", error=repr(exc))
        return []
    log.info("stale reply topics deleted", topics=stale)
    return stale
