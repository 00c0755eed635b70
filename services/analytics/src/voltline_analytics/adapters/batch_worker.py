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
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from pydantic import ValidationError
from voltline_bus import Backoff, BusConfig, Producer
from voltline_bus.headers import EVENT_TYPE
from voltline_bus.metrics import CONSUMER_LAG
from voltline_events import Envelope

from voltline_analytics import metrics
from voltline_analytics.adapters.failures import ApplyBatch, apply_or_park, park
from voltline_analytics.service_layer.projector import Prepared, prepare

log = structlog.get_logger()


@dataclass
class _Fetched:
    """One fetch, decoded and prepared: what is applied and committed as one batch."""

    generation: int
    offsets: dict[TopicPartition, int]
    envelopes: list[tuple[Envelope, ConsumerRecord]] = field(default_factory=list)
    bad: list[tuple[ConsumerRecord, str]] = field(default_factory=list)
    prepared: Prepared | None = None
    size: int = 0  # records fetched


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
        event_types: Collection[str] | None = None,
    ) -> None:
        """`event_types`: a record whose `event_type` header names another type is skipped without being decoded
        (as voltline_bus.EventConsumer does): most of the station stream is meter readings analytics never reads."""
        self._config = config
        self._group_id = group_id
        self._topics = list(topics)
        self._apply = apply_batch
        self._dead_letter = dead_letter
        self._batch_max = batch_max
        self._poll_ms = poll_ms
        self._attempts = attempts
        self._on_rebalance = on_rebalance
        self._wanted = None if event_types is None else frozenset(t.encode() for t in event_types)
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._busy = asyncio.Lock()  # held while a batch is applied and committed
        self._ahead: _Fetched | None = None  # the next batch, fetched and prepared while one was written
        self._generation = 0  # rebalances so far: a batch fetched before one is dropped (positions reset)

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
        batch, self._ahead = self._ahead, None
        if batch is None or batch.generation != self._generation:
            fetched = await consumer.getmany(timeout_ms=self._poll_ms, max_records=self._batch_max)
            if not fetched:
                return
            batch = await self._prepare(fetched)
        async with self._busy:
            if batch.generation != self._generation:
                return  # a rebalance came between: the positions went back to the committed offsets
            # While the store writes this batch (the database server busy, this process waiting), take the
            # next fetch and prepare it: decoding and translation overlap the server's work.
            applying = asyncio.create_task(self._handle(consumer, batch))
            try:
                self._ahead = await self._fetch_ahead(consumer, applying)
            finally:
                await applying
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            if high is not None:
                lag = max(0, high - await consumer.position(tp))
                CONSUMER_LAG.labels(self._group_id, tp.topic, str(tp.partition)).set(lag)

    async def _fetch_ahead(self, consumer: AIOKafkaConsumer, applying: asyncio.Task[None]) -> _Fetched | None:
        """While `applying` runs, fetch and prepare the next batch, topping it up to `batch_max` records (a fetch
        returns what has arrived: taken alone, small batches would write more rows per event)."""
        ahead: _Fetched | None = None
        while not applying.done() and (ahead is None or ahead.size < self._batch_max):
            wanted = self._batch_max - (ahead.size if ahead is not None else 0)
            fetching = asyncio.create_task(consumer.getmany(timeout_ms=self._poll_ms, max_records=wanted))
            try:
                await asyncio.wait((applying, fetching), return_when=asyncio.FIRST_COMPLETED)
            finally:
                if not fetching.done():  # the batch is written: the next round goes on with what came
                    fetching.cancel()
                    await asyncio.gather(fetching, return_exceptions=True)
            if fetching.cancelled():
                break
            try:
                fetched = fetching.result()
            except Exception as exc:  # keep what came (its positions have moved): the next round fetches again
                log.warning("analytics_fetch_ahead_failed", error=repr(exc)[:300])
                break
            if fetched:
                ahead = await self._prepare(fetched, ahead)
        return ahead

    async def _prepare(
        self, fetched: dict[TopicPartition, list[ConsumerRecord]], into: _Fetched | None = None
    ) -> _Fetched:
        """Decode the records and prepare their translation (no store access: it may run beside a write),
        as a new batch or added to `into`."""
        batch = into if into is not None else _Fetched(self._generation, {})
        batch.offsets.update({tp: records[-1].offset + 1 for tp, records in fetched.items()})
        decoded: list[Envelope] = []
        skipped = 0
        for n, record in enumerate(r for records in fetched.values() for r in records):
            batch.size += 1
            if n % 250 == 249:
                await asyncio.sleep(0)  # let the batch being written go on
            if record.value is None:
                continue  # a tombstone
            if self._wanted is not None and not _wanted(record.headers, self._wanted):
                skipped += 1  # committed with the batch; the projector would have skipped it after decoding
                continue
            try:
                envelope = Envelope.from_bytes(record.value)
            except (ValidationError, ValueError) as exc:
                batch.bad.append((record, f"not an envelope: {exc}"))
                continue
            batch.envelopes.append((envelope, record))
            decoded.append(envelope)
        if skipped:
            metrics.EVENTS_SKIPPED.inc(skipped)
        prepared = await prepare(decoded)
        if batch.prepared is None:
            batch.prepared = prepared
        else:
            batch.prepared.add(prepared)
        return batch

    async def _handle(self, consumer: AIOKafkaConsumer, batch: _Fetched) -> None:
        for record, reason in batch.bad:
            await self._park(record, reason)
        await apply_or_park(self._apply, batch.envelopes, self._park, self._attempts, batch.prepared)
        await consumer.commit(batch.offsets)

    async def _park(self, record: ConsumerRecord, reason: str) -> None:
        await park(self._dead_letter, topic=record.topic, partition=record.partition, offset=record.offset,
                   value=record.value, key=record.key, reason=reason)  # fmt: skip


def _wanted(headers: Sequence[tuple[str, bytes]] | None, wanted: frozenset[bytes]) -> bool:
    """False only when the record says it is of a type not read here (no header: decode it)."""
    for name, value in headers or ():
        if name == EVENT_TYPE:
            return value in wanted
    return True


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no types: base is Any
    """A rebalance waits for the batch in flight (applied and committed), then drops the worker's caches:
    another member may have changed the state of the partitions this one gets back."""

    def __init__(self, worker: BatchWorker) -> None:
        self._worker = worker

    async def on_partitions_revoked(self, revoked: list[TopicPartition]) -> None:
        async with self._worker._busy:
            self._worker._generation += 1
            self._worker._ahead = None
            if self._worker._on_rebalance is not None:
                self._worker._on_rebalance()
            for tp in revoked:
                with contextlib.suppress(KeyError):
                    CONSUMER_LAG.remove(self._worker._group_id, tp.topic, str(tp.partition))

    async def on_partitions_assigned(self, assigned: list[TopicPartition]) -> None:
        self._worker._generation += 1
        self._worker._ahead = None
        if self._worker._on_rebalance is not None:
            self._worker._on_rebalance()
