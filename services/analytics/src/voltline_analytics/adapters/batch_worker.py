"""The analytics worker as a plain aiokafka batch consumer (ADR 0017): one fetch of every assigned partition,
up to `batch_max` records, is one store transaction; offsets are committed after it.

Faust (adapters/faust_worker.py, still selectable) costs about as much CPU per event as the store itself
(its stream machinery runs per event); the projector needs none of it: it takes a whole batch, its figures
do not depend on how partitions interleave, and its windows live in SQL. The same failure rules as the faust
worker: a failing batch is retried, then applied event by event, and an event that still fails is parked on
`<topic>.dlq`; nothing is committed before it is applied or parked.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from pydantic import ValidationError
from voltline_bus import Backoff, BusConfig, Producer
from voltline_bus.metrics import CONSUMER_LAG
from voltline_events import Envelope

from voltline_analytics.adapters.failures import ApplyBatch, apply_or_park, park

log = structlog.get_logger()


class BatchWorker:
    def __init__(
        self,
        config: BusConfig,
        *,
        group_id: str,
        topics: Sequence[str],
        apply_batch: ApplyBatch,
        dead_letter: Producer,
        batch_max: int = 5000,
        poll_ms: int = 500,
        attempts: int = 3,
        on_rebalance: Callable[[], None] | None = None,
    ) -> None:
        self._config = config
        self._group_id = group_id
        self._topics = list(topics)
        self._apply = apply_batch
        self._dead_letter = dead_letter
        self._batch_max = batch_max
        self._poll_ms = poll_ms
        self._attempts = attempts
        self._on_rebalance = on_rebalance
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy = asyncio.Lock()  # held while a batch is applied and committed

    async def start(self) -> None:
        config = self._config
        consumer = AIOKafkaConsumer(
            **config.connection(),
            client_id=config.client_id,
            group_id=self._group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=config.session_timeout_ms,
            heartbeat_interval_ms=config.heartbeat_interval_ms(),
            rebalance_timeout_ms=60_000,
            max_poll_records=self._batch_max,
            max_partition_fetch_bytes=4 * 1024 * 1024,
            fetch_max_bytes=64 * 1024 * 1024,
        )
        consumer.subscribe(self._topics, listener=_Listener(self))
        await consumer.start()
        self._consumer = consumer
        self._task = asyncio.create_task(self._loop(consumer), name=f"analytics-batch-worker-{self._group_id}")

    async def stop(self) -> None:
        if self._task is not None:
            async with self._busy:  # let the batch in flight commit
                self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)
            self._task = None
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        backoff = Backoff(initial=0.5, cap=10.0)
        while True:
            try:
                await self._round(consumer)
                backoff = Backoff(initial=0.5, cap=10.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broker error, a commit refused in a rebalance: the records come again
                log.warning("analytics_worker_round_failed", error=repr(exc)[:300])
                await backoff.wait()

    async def _round(self, consumer: AIOKafkaConsumer) -> None:
        fetched = await consumer.getmany(timeout_ms=self._poll_ms, max_records=self._batch_max)
        if not fetched:
            return
        async with self._busy:
            await self._handle([r for records in fetched.values() for r in records])
            await consumer.commit({tp: records[-1].offset + 1 for tp, records in fetched.items()})
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is not None:
                lag = max(0, high - await consumer.position(tp))
                CONSUMER_LAG.labels(self._group_id, tp.topic, str(tp.partition)).set(lag)

    async def _handle(self, records: list[ConsumerRecord]) -> None:
        envelopes: list[tuple[Envelope, ConsumerRecord]] = []
        for record in records:
            if record.value is None:
                continue  # a tombstone
            try:
                envelopes.append((Envelope.from_bytes(record.value), record))
            except (ValidationError, ValueError) as exc:
                await self._park(record, f"not an envelope: {exc}")
        await apply_or_park(self._apply, envelopes, self._park, self._attempts)

    async def _park(self, record: ConsumerRecord, reason: str) -> None:
        await park(self._dead_letter, topic=record.topic, partition=record.partition, offset=record.offset,
                   value=record.value, key=record.key, reason=reason)  # fmt: skip


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no types: base is Any
    """A rebalance waits for the batch in flight (applied and committed), then drops the worker's caches:
    another member may have changed the state of the partitions this one gets back."""

    def __init__(self, worker: BatchWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._worker._busy:
            if self._worker._on_rebalance is not None:
                self._worker._on_rebalance()
            for tp in revoked:
                with contextlib.suppress(KeyError):
                    CONSUMER_LAG.remove(self._worker._group_id, tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        if self._worker._on_rebalance is not None:
            self._worker._on_rebalance()
