"""Following a whole topic without a consumer group: the one reader of tables and reply topics.

A compacted topic read into a local table (the gateway's registry and presence, every service's API keys),
a live feed read from its end (the gateway's commands), a requester's own reply topic: each instance needs
every partition, so there is no group -- no join delay, no rebalances, no committed offsets. A follower
from the beginning sets `caught_up` once it has read up to the end offsets it saw at start (at once when
the topic was empty); a follower from the end is caught up at once, and its start position is resolved
before `start()` returns, so nothing published after that is missed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaError, KafkaTimeoutError

from voltline_bus._closing import stop_client
from voltline_bus._retry import Backoff, retry_until_reachable
from voltline_bus.admin import partitions_of
from voltline_bus.config import BusConfig

log = structlog.get_logger()


class FollowedRecord(Protocol):
    """What a handler gets of each record (an aiokafka ConsumerRecord)."""

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...

    @property
    def headers(self) -> Any: ...

    @property
    def offset(self) -> int: ...


RecordHandler = Callable[[FollowedRecord], None]
PartitionsFor = Callable[[str], Awaitable[Iterable[int]]]


class TopicFollower:
    """Hands every record of every partition of `topic` to `handle`, in offset order per partition.

    `handle` is synchronous and must not raise for bad data (an exception is logged and the record
    skipped). `partitions_for`: how to learn the topic's partitions (a Producer's `partitions_for` waits
    for the metadata of a topic created a moment ago); by default the broker's description of the topic.
    `max_records`: most records one fetch hands over (None: aiokafka's default).
    """

    def __init__(
        self,
        config: BusConfig,
        topic: str,
        handle: RecordHandler,
        *,
        from_beginning: bool,
        partitions_for: PartitionsFor | None = None,
        name: str = "follow",
        max_records: int | None = None,
        fetch_max_wait_ms: int | None = None,
    ) -> None:
        self._config = config
        self._topic = topic
        self._handle = handle
        self._from_beginning = from_beginning
        self._partitions_for = partitions_for
        self._name = name
        self._max_records = max_records
        # A request/reply reader waits briefly: tansu sleeps through the fetch wait even with records there.
        self._fetch_wait = {} if fetch_max_wait_ms is None else {"fetch_max_wait_ms": fetch_max_wait_ms}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._following = False  # started and not stopped for good (restart() keeps it)
        self.caught_up = asyncio.Event()

    @property
    def topic(self) -> str:
        return self._topic

    @property
    def running(self) -> bool:
        """Started, and its reading task has not ended."""
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        """Connect (waiting for a broker that is still starting), position, and start reading."""
        if self._consumer is not None:
            return
        self._following = True
        config = self._config
        ends: dict[TopicPartition, int] = {}

        async def connect() -> AIOKafkaConsumer:
            consumer = AIOKafkaConsumer(
                **config.connection(),
                client_id=f"{config.client_id}-{self._name}",
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=config.request_timeout_ms,
                **self._fetch_wait,
            )
            # aiokafka waits without a bound for a partition's position when the topic vanished meanwhile
            # (a broker that restarted empty again): such an attempt is given up and retried.
            attempt_s = config.request_timeout_ms / 1000
            try:
                async with asyncio.timeout(attempt_s):
                    await consumer.start()
                    tps = [TopicPartition(self._topic, p) for p in sorted(await self._partitions())]
                    consumer.assign(tps)
                    if self._from_beginning:
                        await consumer.seek_to_beginning(*tps)
                    else:
                        await consumer.seek_to_end(*tps)
                    last = await consumer.end_offsets(tps)
                    first = await consumer.beginning_offsets(tps)
                    ends.clear()
                    ends.update({tp: end for tp, end in last.items() if end > first[tp]})
                    for tp in tps:
                        await consumer.position(tp)  # resolve now, so nothing published after start() is missed
            except BaseException as exc:
                await stop_client(consumer, what=f"follower of {self._topic}")
                if isinstance(exc, TimeoutError):
                    raise KafkaTimeoutError(f"positioning on {self._topic} took over {attempt_s:.0f}s") from exc
                raise
            return consumer

        consumer = await retry_until_reachable(
            connect, what=f"follower of {self._topic}", bootstrap=config.bootstrap, give_up_after=config.connect_timeout
        )
        self._consumer = consumer
        if not self._from_beginning or not ends:
            self.caught_up.set()  # a live feed, or an empty table: nothing to catch up on
        self._task = asyncio.create_task(self._run(consumer, ends), name=f"{self._name}:{self._topic}")
        log.info("following topic", topic=self._topic, from_beginning=self._from_beginning)

    async def _partitions(self) -> Iterable[int]:
        if self._partitions_for is not None:
            return await self._partitions_for(self._topic)
        return await partitions_of(self._config, self._topic)

    async def stop(self) -> None:
        self._following = False
        await self._halt()

    async def restart(self) -> None:
        """Follow the topic afresh (it was recreated on a broker that restarted empty); a table is reread.

        Safe to call again after an interrupted restart (the follower is then stopped but still wanted)."""
        if not self._following:
            return
        await self._halt()
        await self.start()

    async def _halt(self) -> None:
        consumer, task = self._consumer, self._task
        self._consumer = self._task = None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if consumer is not None:
            await stop_client(consumer, what=f"follower of {self._topic}")

    async def _run(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        pending = dict(ends) if self._from_beginning else {}
        backoff = Backoff(cap=5.0)
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000, max_records=self._max_records)
            except ConsumerStoppedError:
                return
            except KafkaError as exc:
                log.warning("kafka error while following a topic; retrying", topic=self._topic, error=repr(exc))
                await backoff.wait()
                continue
            backoff.reset()
            for records in batches.values():
                for record in records:
                    try:
                        self._handle(record)
                    except Exception:
                        log.exception("could not apply a record", topic=self._topic, offset=record.offset)
            if pending:
                for tp in list(pending):
                    if await consumer.position(tp) >= pending[tp]:
                        del pending[tp]
                if not pending:
                    self.caught_up.set()
                    log.info("caught up with topic", topic=self._topic)
