"""How far every consumer group has read the spooled topics: what the spool need not keep or send again."""

from __future__ import annotations

import asyncio
import time

import structlog
from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from voltline_bus import BusConfig

from voltline_gateway.adapters.spool import Floors, Spool

log = structlog.get_logger()


class ConsumedPoller:
    """Every `interval` seconds: the lowest committed offset of any group, per partition, into `spool.floors`.

    A group counts on the topics where it committed something; there, a partition it committed nothing on counts
    as read from nothing. The cluster id is read before and after, so a poll that straddles a broker restart is
    thrown away.
    """

    def __init__(self, config: BusConfig, spool: Spool, topics: list[str], *, interval: float = 2.0) -> None:
        self._config = config
        self._spool = spool
        self._topics = topics
        self._interval = interval
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="spool-consumed")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def poll(self) -> Floors | None:
        polled_at = time.time()
        admin = AIOKafkaAdminClient(
            **self._config.connection(),
            client_id=f"{self._config.client_id}-spool",
            request_timeout_ms=5000,
        )
        try:
            async with asyncio.timeout(10):
                await admin.start()
                before = (await admin.describe_cluster())["cluster_id"]
                described = await admin.describe_topics(self._topics)
                tps = [
                    TopicPartition(entry["topic"], p["partition"])
                    for entry in described
                    if entry["error_code"] == 0
                    for p in entry["partitions"]
                ]
                floors: dict[tuple[str, int], int] = {}
                for group, *_ in await admin.list_consumer_groups():
                    committed = await admin.list_consumer_group_offsets(group, partitions=tps)
                    offsets = {(tp.topic, tp.partition): meta.offset for tp, meta in committed.items()}
                    # Per topic: a group counts where it reads (most read the station events, auth the lifecycle).
                    read = {topic for (topic, _), offset in offsets.items() if offset >= 0}
                    for tp in tps:
                        if tp.topic not in read:
                            continue  # not a reader of this topic
                        key = (tp.topic, tp.partition)
                        floors[key] = min(floors.get(key, 1 << 62), max(offsets.get(key, 0), 0))
                after = (await admin.describe_cluster())["cluster_id"]
        finally:
            await admin.close()
        if before != after:
            return None
        return Floors(str(after), polled_at, floors)

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                floors = await self.poll()
            except (KafkaError, OSError, TimeoutError) as exc:
                log.debug("consumer progress not polled", error=repr(exc))
                continue
            except Exception:
                log.exception("consumer progress not polled")
                continue
            if floors is not None and floors.cluster_id == self._spool.epoch():
                self._spool.floors = floors
                trimmed = self._spool.trim()
                log.debug("consumer progress polled", partitions=len(floors.offsets), segments_dropped=trimmed)
