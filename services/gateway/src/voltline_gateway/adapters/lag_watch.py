"""The consumers' lag as the broker sees it (ADR 0027): committed offsets of every consumer group against
the log end, over a kept admin connection, polled every `interval` seconds into the gateway's throttle.

Reading the broker rather than asking each service: it covers every replica of every consumer, needs nothing
from the services, and a stopped service still shows (its group stops committing: `domain.flow.counted_lag`
leaves it out).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Collection

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from voltline_bus import BusConfig

from voltline_gateway.domain.flow import GroupProgress, Throttle, counted_lag
from voltline_gateway.metrics import FLOW_GROUP_LAG, FLOW_HOLD, FLOW_LAG

log = structlog.get_logger()


class ConsumerLag:
    """Per consumer group (named with `group_prefix`, not in `ignored`): records behind the log end on the
    `topics` it reads, and the sum of its committed offsets there. A partition of a topic the group reads
    where it committed nothing yet counts from the log start."""

    def __init__(
        self,
        config: BusConfig,
        topics: list[str],
        *,
        group_prefix: str,
        ignored: Collection[str],
        discover_every_s: float = 5.0,
    ) -> None:
        self._config = config
        self._discover_every_s = discover_every_s  # new groups and partitions are noticed within this
        self._topics = topics
        self._prefix = group_prefix
        self._ignored = {f"{group_prefix}{name}" for name in ignored}
        self._admin: AIOKafkaAdminClient | None = None
        self._offsets: AIOKafkaConsumer | None = None
        self._groups: list[str] = []
        self._coordinator: dict[str, int] = {}
        self._partitions: list[TopicPartition] = []
        self._discovered = 0.0

    async def _connect(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None or self._offsets is None:
            connection = {**self._config.connection(), "request_timeout_ms": 5000}
            admin = AIOKafkaAdminClient(**connection, client_id=f"{self._config.client_id}-flow")
            offsets = AIOKafkaConsumer(
                **connection, client_id=f"{self._config.client_id}-flow", group_id=None, enable_auto_commit=False
            )
            try:
                await admin.start()
                await offsets.start()
            except BaseException:
                await admin.close()
                await offsets.stop()
                raise
            self._admin, self._offsets = admin, offsets
        return self._admin, self._offsets

    async def close(self) -> None:
        admin, offsets, self._admin, self._offsets = self._admin, self._offsets, None, None
        self._discovered = 0.0
        if admin is not None:
            with contextlib.suppress(Exception):
                await admin.close()
        if offsets is not None:
            with contextlib.suppress(Exception):
                await offsets.stop()

    async def read(self) -> dict[str, tuple[int, int]]:
        """group -> (lag, committed total); raises KafkaError/OSError/TimeoutError when the broker cannot say."""
        admin, offsets = await self._connect()
        if time.monotonic() - self._discovered > self._discover_every_s:
            await self._discover(admin)
        if not self._partitions:
            return {}
        ends = await offsets.end_offsets(self._partitions)
        starts: dict[TopicPartition, int] | None = None
        out: dict[str, tuple[int, int]] = {}
        fetched = await asyncio.gather(  # one round trip for all groups: a starved broker answers slowly
            *(
                admin.list_consumer_group_offsets(
                    group, group_coordinator_id=self._coordinator.get(group), partitions=self._partitions
                )
                for group in self._groups
            )
        )
        for group, committed in zip(self._groups, fetched, strict=True):
            read_topics = {tp.topic for tp, meta in committed.items() if meta.offset >= 0}
            if not read_topics:
                continue  # not a reader of these topics
            lag = total = 0
            for tp in self._partitions:
                if tp.topic not in read_topics:
                    continue
                meta = committed.get(tp)
                position = meta.offset if meta is not None else -1
                if position < 0:
                    if starts is None:
                        starts = await offsets.beginning_offsets(self._partitions)
                    position = starts.get(tp, 0)
                lag += max(0, ends.get(tp, 0) - position)
                total += position
            out[group] = (lag, total)
        return out

    async def _discover(self, admin: AIOKafkaAdminClient) -> None:
        """The groups of this installation (by prefix) and the partitions of the watched topics."""
        listed = await admin.list_consumer_groups()
        self._groups = sorted(
            str(entry[0])
            for entry in listed
            if str(entry[0]).startswith(self._prefix) and entry[0] not in self._ignored
        )
        for group in self._groups:
            if group not in self._coordinator:
                self._coordinator[group] = await admin.find_coordinator(group)
        described = await admin.describe_topics(self._topics)
        self._partitions = [
            TopicPartition(entry["topic"], p["partition"])
            for entry in described
            if entry["error_code"] == 0
            for p in entry["partitions"]
        ]
        self._discovered = time.monotonic()


class LagWatch:
    """Polls `ConsumerLag` and feeds the largest lag that counts into `throttle` (none known: no hold)."""

    def __init__(
        self,
        source: ConsumerLag,
        throttle: Throttle,
        *,
        interval: float,
        stall_s: float,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._source = source
        self._throttle = throttle
        self._interval = interval
        self._stall_s = stall_s
        self._clock = clock
        self._progress: dict[str, GroupProgress] = {}
        self._stalled: set[str] = set()
        self._task: asyncio.Task[None] | None = None
        self.lag: int | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="flow-lag-watch")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        await self._source.close()

    async def poll(self) -> float:
        """One observation; returns the hold it leads to."""
        try:
            async with asyncio.timeout(max(5.0, 4 * self._interval)):
                lags = await self._source.read()
        except (KafkaError, OSError, TimeoutError) as exc:
            log.debug("consumer lag not read", error=repr(exc))
            await self._source.close()  # a fresh connection next time
            self.lag = None
        else:
            self.lag, stalled = counted_lag(lags, self._progress, self._clock(), self._stall_s)
            for group in stalled - self._stalled:
                log.warning("consumer group makes no progress: left out of flow control", group=group)
            self._stalled = stalled
            FLOW_GROUP_LAG.clear()
            for group, (lag, _) in lags.items():
                FLOW_GROUP_LAG.labels(group=group).set(lag)
        before = self._throttle.hold_s
        hold = self._throttle.observe(self.lag)
        FLOW_LAG.set(-1 if self.lag is None else self.lag)
        FLOW_HOLD.set(hold)
        if (before == 0) != (hold == 0):
            log.info("flow control " + ("holds answers" if hold else "released"), lag=self.lag, hold_s=hold)
        return hold

    async def _run(self) -> None:
        while True:
            try:
                await self.poll()
            except Exception:
                log.exception("flow control poll failed")
            await asyncio.sleep(self._interval)
