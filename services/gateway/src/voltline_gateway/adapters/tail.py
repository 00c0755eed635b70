"""Following a whole topic without a consumer group: a local table (registry, presence) or a live feed (commands).

No group means no join delay, no rebalances and no committed offsets: a compacted table is read from the
beginning at every start (`caught_up` is set once the end offsets seen at start are reached), a live feed
from the end (commands sent while this instance was down are not its business: it holds no socket then).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import ConsumerStoppedError, KafkaConnectionError, KafkaError
from voltline_bus import BrokerUnavailable, BusConfig, Producer

log = structlog.get_logger()

RecordHandler = Callable[[bytes | None, bytes | None], None]


class TopicTail:
    def __init__(
        self,
        config: BusConfig,
        producer: Producer,
        topic: str,
        handle: RecordHandler,
        *,
        from_beginning: bool,
    ) -> None:
        self._config = config
        self._producer = producer
        self._topic = topic
        self._handle = handle
        self._from_beginning = from_beginning
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._following = False  # started and not stopped for good (restart() keeps it)
        self.caught_up = asyncio.Event()

    async def start(self) -> None:
        self._following = True
        deadline = asyncio.get_running_loop().time() + self._config.connect_timeout
        while True:
            consumer = AIOKafkaConsumer(
                **self._config.connection(),
                client_id=f"{self._config.client_id}-tail",
                group_id=None,
                enable_auto_commit=False,
                request_timeout_ms=self._config.request_timeout_ms,
            )
            try:
                await consumer.start()
                partitions = await self._producer.partitions_for(self._topic)
                tps = [TopicPartition(self._topic, p) for p in sorted(partitions)]
                consumer.assign(tps)
                if self._from_beginning:
                    await consumer.seek_to_beginning(*tps)
                else:
                    await consumer.seek_to_end(*tps)
                ends = await consumer.end_offsets(tps)
                begins = await consumer.beginning_offsets(tps)
                ends = {tp: end for tp, end in ends.items() if end > begins[tp]}
                for tp in tps:
                    await consumer.position(tp)  # resolve now, so nothing published after start() is missed
                break
            except KafkaConnectionError as exc:
                await consumer.stop()
                if asyncio.get_running_loop().time() > deadline:
                    raise BrokerUnavailable(f"cannot follow {self._topic}: {exc!r}") from exc
                await asyncio.sleep(0.5)
            except BaseException:
                await consumer.stop()
                raise
        self._consumer = consumer
        self._task = asyncio.create_task(self._run(consumer, ends), name=f"tail:{self._topic}")
        log.info("following topic", topic=self._topic, from_beginning=self._from_beginning)

    async def stop(self) -> None:
        self._following = False
        await self._halt()

    async def _halt(self) -> None:
        consumer, task = self._consumer, self._task
        self._consumer = self._task = None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        if consumer is not None:
            await consumer.stop()

    async def restart(self) -> None:
        """Follow the topic afresh (it was recreated on a broker that restarted empty); a table is reread.

        Safe to call again after an interrupted restart (the tail is then stopped but still wanted)."""
        if not self._following:
            return
        await self._halt()
        await self.start()

    async def _run(self, consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int]) -> None:
        pending = dict(ends) if self._from_beginning else {}
        if not pending:
            self.caught_up.set()
        delay = 0.1
        while True:
            try:
                batches = await consumer.getmany(timeout_ms=1000, max_records=2000)
            except ConsumerStoppedError:
                return
            except KafkaError as exc:
                log.warning("kafka error while following a topic; retrying", topic=self._topic, error=repr(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, 5.0)
                continue
            delay = 0.1
            for records in batches.values():
                for record in records:
                    try:
                        self._handle(record.key, record.value)
                    except Exception:
                        log.exception("could not apply a record", topic=self._topic, offset=record.offset)
            if pending:
                for tp in list(pending):
                    if await consumer.position(tp) >= pending[tp]:
                        del pending[tp]
                if not pending:
                    self.caught_up.set()
                    log.info("caught up with topic", topic=self._topic)
