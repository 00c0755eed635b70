"""Writing station events to Kafka in batches, each writer still waiting for the broker's acknowledgement.

aiokafka's `send()` costs about 40 us of Python per message; appending to a batch about a third of that.
Messages are grouped per partition: while one batch of a partition is on its way to the broker, the next
fills up, and is handed over as soon as the broker took the previous one (one flusher per partition, so
batches, and the messages of one key in them, keep their order). A `write()` returns only when the batch
holding its message is acknowledged (acks=all), so an answer to a station still means "stored". With a
spool (adapters.spool), an acknowledged batch of a spooled topic is also appended there before its writers
hear of it, so a broker that forgets it (tansu restarting) can be given it again (`replay()`), each key's
records in the order they were first acknowledged (ADR 0045).
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaConnectionError, KafkaError
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.producer.message_accumulator import BatchBuilder
from voltline_bus import BrokerUnavailable, BusConfig, PublishError, tracing
from voltline_bus.headers import envelope_headers
from voltline_events import Envelope

from voltline_gateway.adapters.spool import Message, Spool

log = structlog.get_logger()
MAX_BATCH_BYTES = 512 * 1024
# After a replay, what consumers committed on the new broker is trusted only after this long: a commit of
# offsets read from the old broker may still land there before consumers notice the restart.
FLOORS_DISTRUSTED_S = 10.0


Batch = tuple[BatchBuilder, list[asyncio.Future[None]], list[Message]]


@dataclass
class _Queue:
    """Full batches waiting their turn, the batch filling up, its waiters and what goes to the spool once stored."""

    sealed: deque[Batch] = field(default_factory=deque)
    builder: BatchBuilder | None = None
    waiters: list[asyncio.Future[None]] = field(default_factory=list)
    records: list[Message] = field(default_factory=list)

    def take(self) -> Batch | None:
        """The next batch to hand over, oldest first."""
        if self.sealed:
            return self.sealed.popleft()
        if self.builder is None:
            return None
        taken = (self.builder, self.waiters, self.records)
        self.builder, self.waiters, self.records = None, [], []
        return taken


@dataclass
class _Lane:
    """One partition: the spool's replayed records, which leave before anything queued live, and the live ones."""

    replayed: _Queue = field(default_factory=_Queue)
    live: _Queue = field(default_factory=_Queue)
    flushing: bool = False

    def take(self) -> Batch | None:
        return self.replayed.take() or self.live.take()


class BatchWriter:
    def __init__(
        self,
        config: BusConfig,
        *,
        name: str = "events",
        spool: Spool | None = None,
        spooled_topics: frozenset[str] = frozenset(),
        linger_ms: int = 0,
        replay_backoff_s: float = 0.2,
    ) -> None:
        self._config = config
        # A partition that was idle hands its batch over only when the writer's current window closes, this long
        # after the first message of the window: the batches of every partition that filled meanwhile leave in one
        # produce request (without it: ~one request per message at a few hundred messages/s). aiokafka's own
        # linger would not do: it holds each partition's batch from its own start, so they leave one by one.
        self._linger_s = linger_ms / 1000
        self._window: asyncio.Future[None] | None = None
        self._name = name
        self._spool = spool
        self._spooled = spooled_topics if spool is not None else frozenset()
        self._producer: AIOKafkaProducer | None = None
        self._lanes: dict[tuple[str, int], _Lane] = {}
        self._partitions: dict[str, list[int]] = {}
        self._partition_of: dict[tuple[str, bytes], int] = {}
        self._partitioner = DefaultPartitioner()
        self._flushers: set[asyncio.Task[None]] = set()
        self._replay_backoff_s = replay_backoff_s
        # While the spool is replayed (ADR 0045): the (topic, key)s it sends again, whose live messages wait behind
        # it (`_held`), in the order they came.
        self._replaying: frozenset[tuple[str, bytes]] = frozenset()
        self._held: list[tuple[Message, asyncio.Future[None]]] = []

    async def start(self, topics: Sequence[str]) -> None:
        deadline = time.monotonic() + self._config.connect_timeout
        while True:
            producer = AIOKafkaProducer(
                **self._config.connection(),
                client_id=f"{self._config.client_id}-{self._name}",
                acks="all",
                enable_idempotence=self._config.idempotence,
                max_batch_size=MAX_BATCH_BYTES,
                request_timeout_ms=self._config.request_timeout_ms,
            )
            try:
                await producer.start()
                for topic in topics:
                    self._partitions[topic] = sorted(await producer.partitions_for(topic))
                break
            except KafkaConnectionError as exc:
                await producer.stop()
                if time.monotonic() > deadline:
                    raise BrokerUnavailable(f"batch writer: Kafka at {self._config.bootstrap}: {exc!r}") from exc
                await asyncio.sleep(0.5)
            except BaseException:
                await producer.stop()
                raise
        self._producer = producer

    async def stop(self) -> None:
        """Hand over what is pending, wait for it, disconnect."""
        while self._flushers:
            await asyncio.gather(*list(self._flushers), return_exceptions=True)
        producer, self._producer = self._producer, None
        if producer is not None:
            await producer.stop()

    async def partitions_for(self, topic: str) -> set[int]:
        if topic not in self._partitions:
            if self._producer is None:
                raise PublishError("the batch writer is not running", topic=topic)
            self._partitions[topic] = sorted(await self._producer.partitions_for(topic))
        return set(self._partitions[topic])

    async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None:
        """voltline_bus.Producer.publish, batched (a RequestReplyClient sends its requests through this)."""
        envelope = tracing.stamped(envelope)
        await self.write(topic, key or b"", envelope.to_bytes(), envelope_headers(envelope))

    async def write(self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]]) -> None:
        """Return once the broker has acknowledged the batch holding this message; raise PublishError if not."""
        if topic not in self._partitions:
            await self.partitions_for(topic)
        await self.enqueue(topic, key, value, headers)

    async def replay(self, chunk: int = 5000) -> int:
        """Send the spooled records not read by everyone again, in the order they were acknowledged; returns how many.

        A station's records keep their order on the broker (ADR 0045): they leave their partition before anything
        queued live, one batch after the other, a batch only once the one before it is stored, and what failed is
        sent again before anything behind it; live messages of the same keys wait until the replay is over. They
        are spooled anew (with their new offsets) and the old segments dropped once all are acknowledged. Raises
        PublishError when the broker does not take them: the caller tries again later.
        """
        if self._spool is None:
            return 0
        old = self._spool.rotate()
        self._replaying = frozenset((topic, key) for topic, key, *_ in self._spool.records(old))
        try:
            sent = 0
            chunk_of: list[Message] = []
            for topic, key, value, headers, *_ in self._spool.records(old):
                if topic not in self._partitions:
                    await self.partitions_for(topic)
                chunk_of.append((topic, key, value, headers))
                if len(chunk_of) >= chunk:
                    sent += await self._send_all(chunk_of)
                    chunk_of = []
            sent += await self._send_all(chunk_of)
        finally:
            self._replaying = frozenset()
            held, self._held = self._held, []
            for message, waiter in held:
                try:
                    _forward(self.enqueue(*message), waiter)
                except PublishError as exc:  # the writer stopped meanwhile
                    waiter.set_exception(exc)
        self._spool.drop(old)
        self._spool.floors = None
        self._spool.trust_floors_from = time.time() + FLOORS_DISTRUSTED_S
        return sent

    async def _send_all(self, messages: list[Message], attempts: int = 5) -> int:
        """Send these, again those not stored (tansu refuses some under concurrent writes), in their order."""
        for attempt in range(1, attempts + 1):
            futures = [self.enqueue(*message, replayed=True) for message in messages]
            results = await asyncio.gather(*futures, return_exceptions=True)
            failed = [m for m, r in zip(messages, results, strict=True) if isinstance(r, BaseException)]
            if not failed:
                return len(futures)
            if attempt == attempts:
                raise PublishError(f"{len(failed)} spooled events not acknowledged", topic=failed[0][0])
            messages = failed
            await asyncio.sleep(self._replay_backoff_s * attempt)
        return 0

    def enqueue(
        self, topic: str, key: bytes, value: bytes, headers: list[tuple[str, bytes]], *, replayed: bool = False
    ) -> asyncio.Future[None]:
        """Queue the message now (a topic given to start()); the future completes when the broker has it.

        `replayed`: a record of the spool's replay, which goes before what is queued live (ADR 0045).
        """
        if self._producer is None:
            raise PublishError("the batch writer is not running", topic=topic)
        if self._replaying and not replayed and (topic, key) in self._replaying:
            held: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._held.append(((topic, key, value, headers), held))  # behind the replay of its key
            return held
        partition = self._partition_of.get((topic, key))
        if partition is None:
            partitions = self._partitions[topic]
            partition = self._partition_of[(topic, key)] = self._partitioner(key, partitions, partitions)
        lane = self._lanes.get((topic, partition))
        if lane is None:
            lane = self._lanes[(topic, partition)] = _Lane()
        queue = lane.replayed if replayed else lane.live
        if queue.builder is None:
            queue.builder = self._producer.create_batch()
        if queue.builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
            if queue.builder.record_count() == 0:
                raise PublishError(f"a message of {len(value)} bytes is larger than a batch", topic=topic)
            queue.sealed.append((queue.builder, queue.waiters, queue.records))  # full: its turn comes, a new one fills
            queue.builder, queue.waiters, queue.records = self._producer.create_batch(), [], []
            if queue.builder.append(key=key, value=value, timestamp=None, headers=headers) is None:
                raise PublishError(f"a message of {len(value)} bytes is larger than a batch", topic=topic)
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue.waiters.append(waiter)
        if topic in self._spooled:  # all of a spooled topic's batch: record i is at its base offset + i
            queue.records.append((topic, key, value, headers))
        if not lane.flushing:
            lane.flushing = True
            task = asyncio.get_running_loop().create_task(self._flush(topic, partition, lane))
            self._flushers.add(task)
            task.add_done_callback(self._flushers.discard)
        return waiter

    async def _flush(self, topic: str, partition: int, lane: _Lane) -> None:
        """Hand the lane's batches to the producer, one after another, while messages keep coming."""
        assert self._producer is not None
        try:
            if self._linger_s:
                # Shielded: a lane cancelled while it waits must not cancel the window the other lanes wait on.
                await asyncio.shield(self._window_closed())
            while (taken := lane.take()) is not None:
                builder, waiters, records = taken
                try:
                    # Waits while the previous batch of this partition is still queued: meanwhile the next fills.
                    future = await self._producer.send_batch(builder, topic, partition=partition)
                except (KafkaError, asyncio.CancelledError) as exc:
                    _settle(waiters, topic, exc)
                    if isinstance(exc, asyncio.CancelledError):
                        raise
                    error: BaseException | None = exc
                else:
                    future.add_done_callback(
                        lambda f, w=waiters, r=records: self._acknowledged(w, r, topic, partition, f)
                    )
                    if not self._replaying:
                        continue
                    # A replay's order (ADR 0045): the next batch only once this one is stored.
                    await asyncio.wait((future,))
                    error = _error(future)
                if error is not None and self._replaying:
                    while (behind := lane.take()) is not None:  # nothing overtakes a batch that must be sent again
                        _settle(behind[1], topic, error)
        finally:
            lane.flushing = False

    def _window_closed(self) -> asyncio.Future[None]:
        """The current window (opened now if none is): every lane waiting on it hands over in the same turn."""
        if self._window is None:
            loop = asyncio.get_running_loop()
            window = self._window = loop.create_future()

            def close() -> None:
                self._window = None
                if not window.done():
                    window.set_result(None)

            loop.call_later(self._linger_s, close)
        return self._window

    def _acknowledged(
        self,
        waiters: list[asyncio.Future[None]],
        records: list[Message],
        topic: str,
        partition: int,
        future: asyncio.Future[Any],
    ) -> None:
        """Spool an acknowledged batch before anyone is told it is stored; a batch that cannot be kept fails."""
        error = _error(future)
        if error is None and records and self._spool is not None:
            try:
                self._spool.append(records, partition, future.result().offset)
            except OSError as exc:
                log.error("could not spool an acknowledged batch", topic=topic, error=repr(exc))
                error = exc
        _settle(waiters, topic, error)


def _forward(stored: asyncio.Future[None], waiter: asyncio.Future[None]) -> None:
    """Settle a held message's waiter as its queued copy is settled (unless its writer gave up meanwhile)."""

    def done(future: asyncio.Future[None]) -> None:
        error = _error(future)
        if waiter.done():
            return
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(error)

    stored.add_done_callback(done)


def _error(future: asyncio.Future[Any]) -> BaseException | None:
    return asyncio.CancelledError() if future.cancelled() else future.exception()


def _settle(waiters: list[asyncio.Future[None]], topic: str, error: BaseException | None) -> None:
    for waiter in waiters:
        if waiter.done():
            continue  # its writer gave up (timeout); the message may still be stored
        if error is None:
            waiter.set_result(None)
        else:
            waiter.set_exception(PublishError(f"batch not acknowledged: {error!r}", topic=topic))
