"""A consumer-group runner with at-least-once delivery, retries and a dead-letter topic.

An offset is committed only after its message's handler succeeded or the message was dead-lettered
(in one request for all partitions, every `commit_interval` seconds and at rebalance and stop), so a
crash at any point means redelivery, never loss.
Handlers must therefore be idempotent (dedupe by `event_id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Literal, Self

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, ConsumerStoppedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError
from voltline_events import Envelope, Topics

from voltline_bus import headers as h
from voltline_bus._retry import retry_until_reachable
from voltline_bus.admin import TopicSpec, ensure_topics
from voltline_bus.config import BusConfig
from voltline_bus.dispatch import Dispatcher
from voltline_bus.errors import BusError
from voltline_bus.metrics import (
    BATCH_FALLBACKS,
    BATCH_LATENCY,
    BATCH_SIZE,
    CONSUMER_LAG,
    HANDLER_LATENCY,
    MESSAGES_CONSUMED,
    MESSAGES_DEAD_LETTERED,
    MESSAGES_FAILED,
    MESSAGES_HANDLED,
)
from voltline_bus.producer import Producer

log = structlog.get_logger()

Handler = Callable[[Envelope], Awaitable[None]]
# Opens the transaction that a batch of envelopes is handled in: commits on a clean exit, rolls back
# when an exception leaves it (voltline_store.TransactionBatch is the one services use).
BatchScope = Callable[[Sequence[Envelope]], AbstractAsyncContextManager[Any]]

_MAX_ERROR_TEXT = 2000
_FULL_FETCH_BYTES = 512 * 1024
_YIELD_AFTER_S = 0.001


@dataclass
class _Batch:
    """One getmany() result being worked on; `abandon` stops it after the in-flight messages."""

    abandon: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class _Outcome(enum.Enum):
    COMMIT = "commit"  # handled or dead-lettered: move past it
    LEAVE = "leave"  # interrupted (stop/rebalance): leave it uncommitted for redelivery


class EventConsumer:
    """Runs `handler` for every envelope on `topics` as a member of consumer group `group_id`.

    - One partition is processed strictly in order; partitions of one fetched batch run concurrently.
    - A failing handler is retried with exponential backoff (`backoff_initial` doubling up to
      `backoff_max`) up to `max_attempts` times, then the original bytes go to
      `Topics.dead_letter(topic)` with `dlq.*` headers, and the offset is committed.
    - Bytes that are not an Envelope are dead-lettered at once; tombstones (null values) are skipped.
    - With `event_types` (taken from a Dispatcher handler by default), a record whose `event_type`
      header names another type is skipped without being parsed: most topics carry far more types
      than one consumer handles.
    - Offsets are committed every `commit_interval` seconds, before a rebalance and at stop.
    - `stop()` lets in-flight handler calls finish and commits them, then leaves the group.
    - With `batch_scope`, the envelopes one fetch returned for one partition are handled in order
      inside one `batch_scope(envelopes)` (one transaction), except `solo_types`, which are handled
      alone (in order, between batches): events whose handlers have effects outside the store. If the
      batch fails, the events before the failing one are handled again as a batch, the failing one
      alone (with the retries and dead-lettering above), and the rest as a new batch. A batch
      transaction commits early once it has run `batch_max_s`; the rest goes into the next one.
    - `lag()` (and the `voltline_bus_consumer_lag` gauge) is how many records each assigned partition
      holds beyond the last one handled, as of the last fetch.
    """

    def __init__(
        self,
        config: BusConfig,
        *,
        group_id: str,
        topics: Sequence[str],
        handler: Handler,
        dead_letter: Producer,
        max_attempts: int = 5,
        backoff_initial: float = 0.2,
        backoff_max: float = 5.0,
        auto_offset_reset: Literal["earliest", "latest"] = "earliest",
        max_poll_records: int = 100,
        ensure_dead_letter_topics: bool = True,
        consumer_options: dict[str, Any] | None = None,
        commit_interval: float = 1.0,
        event_types: Collection[str] | None = None,
        fetch_wait_ms: int = 0,
        batch_scope: BatchScope | None = None,
        solo_types: Collection[str] = (),
        batch_max_s: float = 0.2,
    ) -> None:
        if max_attempts < 1:
            raise ValueError("max_attempts must be >= 1")
        if not topics:
            raise ValueError("topics must not be empty")
        self._config = config
        self._group_id = group_id
        self._topics = list(dict.fromkeys(topics))
        self._handler = handler
        self._dead_letter = dead_letter
        self._max_attempts = max_attempts
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._auto_offset_reset = auto_offset_reset
        self._max_poll_records = max_poll_records
        self._ensure_dlq = ensure_dead_letter_topics
        # Passed through to AIOKafkaConsumer (e.g. session_timeout_ms, heartbeat_interval_ms in tests).
        self._consumer_options = consumer_options or {}
        # The broker holds a fetch up to this long to fill it: fewer, fuller fetches for streams nobody
        # waits on; 0 (answer as soon as anything is there) where a caller is waiting, as for requests.
        self._fetch = (
            {"fetch_min_bytes": _FULL_FETCH_BYTES, "fetch_max_wait_ms": fetch_wait_ms} if fetch_wait_ms else {}
        )
        self._commit_interval = commit_interval
        # Records whose event_type header names a type nobody here handles are skipped unparsed.
        if event_types is None and isinstance(handler, Dispatcher):
            event_types = handler.event_types
        self._event_types = None if event_types is None else frozenset(t.encode() for t in event_types)
        self._batch_scope = batch_scope
        self._solo_types = frozenset(solo_types)
        # A batch transaction commits once it has run this long: its locks (SQLite's one write lock,
        # a station's row) must not keep API requests waiting for long.
        self._batch_max_s = batch_max_s
        # Per partition: the offset after the last record handled (committed or not), for the lag.
        self._position: dict[TopicPartition, int] = {}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._batch: _Batch | None = None
        # Per partition, the offset just after the last message handled, until it is committed.
        self._handled: dict[TopicPartition, int] = {}
        self._last_commit = 0.0
        self._since_yield = 0.0
        self._not_committing = asyncio.Event()
        self._not_committing.set()
        self._stopping = False
        self._idle = False
        # A lazy proxy: constructors run before the service configures logging.
        self._log = structlog.get_logger(__name__, group_id=group_id)

    @property
    def group_id(self) -> str:
        return self._group_id

    async def start(self) -> None:
        """Join the group (returns once partitions are assigned) and start the processing task."""
        if self._consumer is not None:
            return
        config = self._config
        if self._ensure_dlq:
            await ensure_topics(config, [TopicSpec(Topics.dead_letter(topic)) for topic in self._topics])
        for topic in self._topics:
            # Series at 0 from the start: increase() cannot see a counter's first step from absent to 1,
            # so without this the first dead letter would never fire an alert.
            for failures in (MESSAGES_FAILED, MESSAGES_DEAD_LETTERED, BATCH_FALLBACKS):
                failures.labels(topic, self._group_id)
        listener = _RevokeListener(self)

        async def connect() -> AIOKafkaConsumer:
            options: dict[str, Any] = {
                "session_timeout_ms": config.session_timeout_ms,
                "heartbeat_interval_ms": max(100, min(3_000, config.session_timeout_ms // 3)),
                # Long enough for the revoke callback to finish an in-flight message and commit it.
                "rebalance_timeout_ms": 60_000,
                **self._fetch,
                **self._consumer_options,
            }
            consumer = AIOKafkaConsumer(
                bootstrap_servers=config.bootstrap,
                client_id=config.client_id,
                group_id=self._group_id,
                enable_auto_commit=False,
                auto_offset_reset=self._auto_offset_reset,
                max_poll_records=self._max_poll_records,
                **options,
            )
            consumer.subscribe(self._topics, listener=listener)
            try:
                await consumer.start()
            except BaseException:
                await consumer.stop()
                raise
            return consumer

        self._stopping = False
        self._consumer = await retry_until_reachable(
            connect, what=f"consumer {self._group_id}", bootstrap=config.bootstrap, give_up_after=config.connect_timeout
        )
        self._log.info("consumer started", topics=self._topics, assignment=_tps(self._consumer.assignment()))
        self._task = asyncio.create_task(self._loop(self._consumer), name=f"consumer:{self._group_id}")

    async def run(self) -> None:
        """Start if needed and process until stop(); cancelling run() stops gracefully."""
        await self.start()
        assert self._task is not None
        try:
            await asyncio.shield(self._task)
        except asyncio.CancelledError:
            await self.stop()
            raise

    async def stop(self, grace: float = 30.0) -> None:
        """Finish in-flight messages, commit them, leave the group.

        A handler still running after `grace` seconds is cancelled; its message stays
        uncommitted and is redelivered.
        """
        consumer, task = self._consumer, self._task
        if consumer is None:
            return
        self._stopping = True
        if self._batch is not None:
            self._batch.abandon.set()
        if task is not None:
            if self._idle:
                task.cancel()  # polling or backing off: nothing in flight, stop at once
            done, _ = await asyncio.wait({task}, timeout=grace)
            if not done:
                self._log.warning("handler did not finish in time; cancelling it", grace=grace)
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        self._consumer = self._task = None
        await self._commit_handled(consumer)
        await consumer.stop()  # leaves the group so the partitions move on without waiting for a timeout
        self._log.info("consumer stopped")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- processing ------------------------------------------------------------------------

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        delay = self._backoff_initial
        self._last_commit = time.monotonic()
        while not self._stopping:
            try:
                self._idle = True
                try:
                    records = await consumer.getmany(timeout_ms=self._poll_ms())
                finally:
                    self._idle = False
                if records and not self._stopping:
                    batch = self._batch = _Batch()
                    try:
                        await asyncio.gather(*(self._drain(consumer, tp, rs, batch) for tp, rs in records.items()))
                    finally:
                        self._batch = None
                        batch.done.set()
                self._update_lag(consumer)
                await self._commit_if_due(consumer)
                delay = self._backoff_initial
            except asyncio.CancelledError:
                if self._stopping:
                    return
                raise
            except ConsumerStoppedError:
                return
            except Exception as exc:
                # aiokafka reconnects by itself; errors that still surface are logged and polled again.
                self._log.warning("error while consuming; retrying", error=repr(exc), retry_in=delay)
                self._idle = True
                try:
                    await asyncio.sleep(delay)
                except asyncio.CancelledError:
                    if self._stopping:
                        return
                    raise
                finally:
                    self._idle = False
                delay = min(delay * 2, self._backoff_max)

    def _poll_ms(self) -> int:
        """Poll up to a second, but no longer than until handled offsets are due for their commit."""
        if not self._handled:
            return 1000
        due = self._last_commit + self._commit_interval - time.monotonic()
        return max(0, min(1000, int(due * 1000)))

    async def lag(self) -> dict[str, int]:
        """Records beyond the last one handled, per assigned `topic[partition]`, as of the last fetch."""
        consumer = self._consumer
        if consumer is None:
            return {}
        out: dict[str, int] = {}
        for tp in sorted(consumer.assignment()):
            high = consumer.highwater(tp)
            position = self._position.get(tp)
            if position is None:  # nothing handled here since the assignment: where fetching stands
                with contextlib.suppress(KafkaError, IllegalStateError, TimeoutError):
                    position = await asyncio.wait_for(consumer.position(tp), timeout=1.0)
            if high is not None and position is not None:
                out[f"{tp.topic}[{tp.partition}]"] = max(0, high - position)
        return out

    def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            high = consumer.highwater(tp)
            position = self._position.get(tp)
            if high is None or position is None:
                continue
            CONSUMER_LAG.labels(self._group_id, tp.topic, str(tp.partition)).set(max(0, high - position))

    def _mark(self, tp: TopicPartition, offset: int) -> None:
        self._handled[tp] = self._position[tp] = offset

    async def _drain(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: list[ConsumerRecord], batch: _Batch
    ) -> None:
        """Handle one partition's records in order; stop early if abandoned."""
        if self._batch_scope is not None:
            await self._drain_batched(consumer, tp, records, batch)
            return
        for record in records:
            if batch.abandon.is_set():
                return
            try:
                outcome = await self._process(record, batch)
            except Exception:
                # A bug in here must not skip the record: rewind so the next poll fetches it again.
                self._log.exception("error processing record; retrying it", topic=tp.topic, offset=record.offset)
                with contextlib.suppress(KafkaError):
                    consumer.seek(tp, record.offset)
                await _interrupted(batch, self._backoff_max)
                return
            if outcome is _Outcome.LEAVE:
                return
            self._mark(tp, record.offset + 1)
            await self._commit_if_due(consumer)
            if time.perf_counter() - self._since_yield > _YIELD_AFTER_S:
                # Skipped or quick records never suspend: let other tasks (a request waiting for its
                # answer, in the same process) run between them instead of after the whole batch.
                await asyncio.sleep(0)
                self._since_yield = time.perf_counter()

    async def _drain_batched(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, records: list[ConsumerRecord], batch: _Batch
    ) -> None:
        """One partition's records as runs handled in one transaction each; others alone, in order."""
        run: list[tuple[ConsumerRecord, Envelope]] = []
        for record in records:
            if batch.abandon.is_set():
                break
            envelope = self._batchable(record)
            if isinstance(envelope, Envelope):
                run.append((record, envelope))
                continue
            if run:
                if not await self._flush_run(consumer, tp, run, batch):
                    return
                run = []
            if envelope is _Outcome.COMMIT:  # skipped without a handler: nothing to do
                self._mark(tp, record.offset + 1)
                continue
            if not await self._alone(consumer, tp, record, batch):
                return
        if run:
            await self._flush_run(consumer, tp, run, batch)
        await self._commit_if_due(consumer)

    def _batchable(self, record: ConsumerRecord) -> Envelope | _Outcome | None:
        """The record's envelope if it goes into a batch; COMMIT if it is skipped; None: handle it alone."""
        if record.value is None or (self._event_types is not None and not self._wanted(record.headers)):
            MESSAGES_CONSUMED.labels(record.topic, self._group_id).inc()
            return _Outcome.COMMIT
        try:
            envelope = Envelope.from_bytes(record.value)
        except (ValidationError, ValueError):
            return None  # dead-lettered by the one-at-a-time path
        return None if envelope.type in self._solo_types else envelope

    async def _alone(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition, record: ConsumerRecord, batch: _Batch
    ) -> bool:
        """The one-at-a-time path (retries, dead letter); False when the partition must stop here."""
        try:
            outcome = await self._process(record, batch)
        except Exception:
            self._log.exception("error processing record; retrying it", topic=tp.topic, offset=record.offset)
            with contextlib.suppress(KafkaError):
                consumer.seek(tp, record.offset)
            await _interrupted(batch, self._backoff_max)
            return False
        if outcome is _Outcome.LEAVE:
            return False
        self._mark(tp, record.offset + 1)
        return True

    async def _flush_run(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition,
        run: list[tuple[ConsumerRecord, Envelope]],
        batch: _Batch,
    ) -> bool:
        """Handle `run` in one transaction; on failure isolate the failing record (see the class doc)."""
        while run:
            done, failed_at = await self._try_run(run)
            if done:
                self._mark(tp, run[done - 1][0].offset + 1)
                run = run[done:]
                if run and batch.abandon.is_set():
                    return False
                continue
            BATCH_FALLBACKS.labels(tp.topic, self._group_id).inc()
            if failed_at < 0:  # the commit itself failed: no culprit known, handle each alone
                for record, _ in run:
                    if batch.abandon.is_set() or not await self._alone(consumer, tp, record, batch):
                        return False
                return True
            if failed_at > 0 and not await self._flush_run(consumer, tp, run[:failed_at], batch):
                return False
            if batch.abandon.is_set() or not await self._alone(consumer, tp, run[failed_at][0], batch):
                return False
            run = run[failed_at + 1 :]
        return True

    async def _try_run(self, run: list[tuple[ConsumerRecord, Envelope]]) -> tuple[int, int]:
        """Handle a prefix of `run` in one transaction: (how many were handled and committed, 0 if none;
        the index of the record that failed, -1 if the commit failed)."""
        assert self._batch_scope is not None
        topic = run[0][0].topic
        failed_at = -1
        done = len(run)
        started = time.perf_counter()
        try:
            async with self._batch_scope([envelope for _, envelope in run]):
                for index, (_, envelope) in enumerate(run):
                    failed_at = index
                    with structlog.contextvars.bound_contextvars(**_log_context(envelope)):
                        await self._handler(envelope)
                    if time.perf_counter() - started > self._batch_max_s:
                        done = index + 1
                        break
                failed_at = -1
        except Exception as exc:
            culprit = run[failed_at][1] if failed_at >= 0 else None
            self._log.warning(
                "batch failed; handling it again around the failing event",
                size=len(run),
                failed_event_id=str(culprit.event_id) if culprit else None,
                failed_event_type=culprit.type if culprit else None,
                error=_error_text(exc)[:300],
            )
            return 0, failed_at
        BATCH_LATENCY.labels(topic, self._group_id).observe(time.perf_counter() - started)
        BATCH_SIZE.labels(topic, self._group_id).observe(done)
        MESSAGES_CONSUMED.labels(topic, self._group_id).inc(done)
        MESSAGES_HANDLED.labels(topic, self._group_id).inc(done)
        return done, -1

    async def _process(self, record: ConsumerRecord, batch: _Batch) -> _Outcome:
        topic = record.topic
        MESSAGES_CONSUMED.labels(topic, self._group_id).inc()
        where = {"topic": topic, "partition": record.partition, "offset": record.offset}
        if record.value is None:
            self._log.debug("tombstone skipped", **where)
            return _Outcome.COMMIT
        if self._event_types is not None and not self._wanted(record.headers):
            return _Outcome.COMMIT
        try:
            envelope = Envelope.from_bytes(record.value)
        except (ValidationError, ValueError) as exc:
            self._log.warning("not a valid envelope; dead-lettering", error=_error_text(exc)[:300], **where)
            return await self._dead_letter_record(record, exc, attempts=0, batch=batch)

        bound = self._log.bind(
            event_type=envelope.type,
            event_id=str(envelope.event_id),
            station_id=envelope.station_id,
            correlation_id=envelope.correlation_id,
            **where,
        )
        delay = self._backoff_initial
        for attempt in range(1, self._max_attempts + 1):
            started = time.perf_counter()
            try:
                # Every line the handler logs carries the station, session and message it is about.
                with structlog.contextvars.bound_contextvars(**_log_context(envelope)):
                    await self._handler(envelope)
            except (Exception, asyncio.CancelledError) as exc:
                if isinstance(exc, asyncio.CancelledError) and _being_cancelled():
                    raise
                HANDLER_LATENCY.labels(topic, self._group_id).observe(time.perf_counter() - started)
                MESSAGES_FAILED.labels(topic, self._group_id).inc()
                if attempt >= self._max_attempts:
                    bound.error("handler failed, giving up; dead-lettering", attempt=attempt, exc_info=exc)
                    return await self._dead_letter_record(record, exc, attempts=attempt, batch=batch)
                bound.warning("handler failed; retrying", attempt=attempt, retry_in=delay, error=repr(exc))
                if await _interrupted(batch, delay):
                    bound.info("retry interrupted by stop/rebalance; leaving the message for redelivery")
                    return _Outcome.LEAVE
                delay = min(delay * 2, self._backoff_max)
            else:
                HANDLER_LATENCY.labels(topic, self._group_id).observe(time.perf_counter() - started)
                MESSAGES_HANDLED.labels(topic, self._group_id).inc()
                bound.debug("handled", attempt=attempt)
                return _Outcome.COMMIT
        raise AssertionError("unreachable")

    def _wanted(self, headers: Sequence[tuple[str, bytes]] | None) -> bool:
        """False only when the record says it is of a type not handled here (no header: parse it)."""
        assert self._event_types is not None
        for name, value in headers or ():
            if name == h.EVENT_TYPE:
                return value in self._event_types
        return True

    async def _dead_letter_record(
        self, record: ConsumerRecord, exc: BaseException, *, attempts: int, batch: _Batch
    ) -> _Outcome:
        """Publish the original bytes to the DLQ, retrying until acknowledged or interrupted."""
        dlq = Topics.dead_letter(record.topic)
        headers = [(k, v) for k, v in (record.headers or ()) if not k.startswith(h.DLQ_PREFIX)]
        headers += [
            (h.DLQ_ERROR, _error_text(exc)[:_MAX_ERROR_TEXT].encode()),
            (h.DLQ_ERROR_TYPE, type(exc).__name__.encode()),
            (h.DLQ_ORIGINAL_TOPIC, record.topic.encode()),
            (h.DLQ_ORIGINAL_PARTITION, str(record.partition).encode()),
            (h.DLQ_ORIGINAL_OFFSET, str(record.offset).encode()),
            (h.DLQ_ATTEMPTS, str(attempts).encode()),
            (h.DLQ_GROUP, self._group_id.encode()),
        ]
        delay = self._backoff_initial
        while True:
            try:
                await self._dead_letter.publish_raw(dlq, record.value, key=record.key, headers=headers)
            except BusError as error:  # PublishError, or the dead-letter producer is not running
                self._log.error("dead-letter publish failed; retrying", dlq=dlq, error=repr(error), retry_in=delay)
                if await _interrupted(batch, delay):
                    return _Outcome.LEAVE
                delay = min(delay * 2, self._backoff_max)
                continue
            MESSAGES_DEAD_LETTERED.labels(record.topic, self._group_id).inc()
            self._log.warning(
                "message dead-lettered",
                dlq=dlq,
                topic=record.topic,
                partition=record.partition,
                offset=record.offset,
                attempts=attempts,
            )
            return _Outcome.COMMIT

    async def _commit_if_due(self, consumer: AIOKafkaConsumer) -> None:
        if self._handled and time.monotonic() - self._last_commit >= self._commit_interval:
            await self._commit_handled(consumer)

    async def _commit_handled(self, consumer: AIOKafkaConsumer) -> None:
        """Commit every partition's handled offset in one request.

        Commits go at most every `commit_interval` seconds (and at a rebalance or stop): a commit is a
        round trip to the group coordinator, too dear to pay per message; a crash redelivers what was
        handled since the last one, which idempotent handlers absorb.
        """
        if not self._not_committing.is_set() or not self._handled:
            return
        self._not_committing.clear()
        offsets = dict(self._handled)
        try:
            await consumer.commit({tp: OffsetAndMetadata(offset, "") for tp, offset in offsets.items()})
        except (CommitFailedError, IllegalStateError) as exc:
            self._log.warning("commit rejected after a rebalance; the messages will be redelivered", error=repr(exc))
            self._forget(offsets)
        except KafkaError as exc:
            # Kept: the next commit covers these offsets too.
            self._log.warning("commit failed; the next one will cover it", error=repr(exc))
        else:
            self._forget(offsets)
        finally:
            self._not_committing.set()
            self._last_commit = time.monotonic()

    def _forget(self, offsets: dict[TopicPartition, int]) -> None:
        """Drop the offsets just committed, unless a later message of that partition was handled since."""
        for tp, offset in offsets.items():
            if self._handled.get(tp) == offset:
                del self._handled[tp]

    async def _on_revoked(self, revoked: set[TopicPartition]) -> None:
        batch, consumer = self._batch, self._consumer
        if batch is not None:
            self._log.info("partitions revoked; finishing in-flight messages", revoked=_tps(revoked))
            batch.abandon.set()
            await batch.done.wait()
        if consumer is not None:
            with contextlib.suppress(TimeoutError):  # a commit under way may not cover the last messages
                await asyncio.wait_for(self._not_committing.wait(), timeout=10)
            await self._commit_handled(consumer)
        for tp in revoked:
            self._handled.pop(tp, None)
            self._position.pop(tp, None)
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self._group_id, tp.topic, str(tp.partition))


class _RevokeListener(ConsumerRebalanceListener):  # type: ignore[misc]
    """Before a rebalance: finish and commit in-flight messages, drop the rest of the batch.

    The rest is not lost: a new assignment restarts fetching from the committed offsets.
    """

    def __init__(self, owner: EventConsumer) -> None:
        self._owner = owner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        self._owner._log.info("partitions assigned", assigned=_tps(assigned))


async def _interrupted(batch: _Batch, delay: float) -> bool:
    """Sleep `delay` seconds unless the batch is abandoned first; True if it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(batch.abandon.wait(), timeout=delay)
    return batch.abandon.is_set()


def _being_cancelled() -> bool:
    """Tell our own cancellation (stop) from a CancelledError a handler let escape."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _tps(tps: set[TopicPartition] | frozenset[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)


def _log_context(envelope: Envelope) -> dict[str, str]:
    fields = {
        "event_id": str(envelope.event_id),
        "station_id": envelope.station_id,
        "session_id": envelope.session_id,
        "message_id": envelope.message_id,
        "correlation_id": envelope.correlation_id,
    }
    return {k: v for k, v in fields.items() if v is not None}
