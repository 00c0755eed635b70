"""A consumer-group runner with at-least-once delivery, retries and a dead-letter topic.

An offset is committed only after its message's handler succeeded or the message was dead-lettered
(in one request for all partitions, every `commit_interval` seconds and at rebalance and stop), so a
crash at any point means redelivery, never loss.
Handlers must therefore be idempotent (dedupe by `event_id`).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import weakref
from collections.abc import Awaitable, Callable, Collection, Sequence
from types import TracebackType
from typing import Any, Literal, Self

import structlog
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, ConsumerStoppedError, IllegalStateError, KafkaError
from aiokafka.structs import OffsetAndMetadata
from pydantic import ValidationError
from voltline_events import Envelope, Topics

from voltline_bus import headers as h
from voltline_bus import tracing
from voltline_bus._batching import BatchingMixin, BatchScope, _Batch, _error_text, _interrupted, _Outcome
from voltline_bus._closing import stop_client
from voltline_bus._pipelining import PipeliningMixin
from voltline_bus._retry import Backoff, retry_until_reachable
from voltline_bus._sticky import remember_generation, sticky_assignor
from voltline_bus.admin import TopicSpec, ensure_topics
from voltline_bus.config import BusConfig
from voltline_bus.dispatch import Dispatcher
from voltline_bus.errors import BusError
from voltline_bus.logcontext import CURRENT_EVENT
from voltline_bus.metrics import (
    BATCH_FALLBACKS,
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

_MAX_ERROR_TEXT = 2000
_FULL_FETCH_BYTES = 512 * 1024
_YIELD_AFTER_S = 0.001
_RUNNING: weakref.WeakSet[EventConsumer] = weakref.WeakSet()
_REWIND_WINDOW_S = 30.0
_MISSING_TOPIC_CHECK_S = 1.0


async def rewind_all_consumers() -> None:
    """After the broker restarted empty (voltline_bus.watch): every consumer of this process reads its
    partitions again from the beginning of the recreated topics (handlers are idempotent)."""
    for consumer in list(_RUNNING):
        await consumer.rewind()


class EventConsumer(PipeliningMixin, BatchingMixin):
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
      alone (in order, between batches): events whose handlers have effects outside the store (`solo`, a
      predicate on the envelope, picks more of them by content, e.g. by a station.message's action). If the
      batch fails, the events before the failing one are handled again as a batch, the failing one
      alone (with the retries and dead-lettering above), and the rest as a new batch. A batch
      transaction commits early once it has run `batch_max_s`; the rest goes into the next one.
    - With `merge_partitions=n` (n > 0, with `batch_scope`), the partitions of one fetch are spread over at most
      n lanes that run concurrently, and each lane's records go into the same runs, partition after partition
      (each partition still in order): n batch transactions per fetch instead of one per partition, for
      handlers whose batches have a large fixed cost (two lanes: one handles events while the other waits for
      its database). 0 (the default): one batch per partition.
    - With `pipeline_partitions=True` (ADR 0031), a partition whose records are handled takes its next ones at
      once (`getmany` of the free partitions), without waiting for the other partitions of its fetch: one task
      per partition (per lane with `merge_partitions`) in flight, each partition still in order. A revocation or
      stop stops every task after its in-flight message or batch, starts none, waits for them and commits what
      was handled. False (the default): the next fetch waits for every partition of the last one.
    - With `commit_caught_up=True`, handled offsets are also committed as soon as every partition holding them is
      handled up to its last fetch's high watermark (a drained backlog is committed at once, not up to
      `commit_interval` later: what a reader of the group's offsets, such as bench.pipeline ingest, sees). Off by
      default: under a trickle nearly every batch catches up, and each would be a commit.
    - `lag()` (and the `voltline_bus_consumer_lag` gauge) is how many records each assigned partition
      holds beyond the last one handled, against the partition's end offset (asked of the broker by
      `lag()`, which `/readyz` calls; between calls the gauge follows the fetches' high watermarks).
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
        solo: Callable[[Envelope], bool] | None = None,
        merge_partitions: int = 0,
        pipeline_partitions: bool = False,
        commit_caught_up: bool = False,
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
        # Public: a service's wiring (voltline_chassis.infra.watch) may turn it on after construction.
        self.commit_caught_up = commit_caught_up
        # Records whose event_type header names a type nobody here handles are skipped unparsed.
        if event_types is None and isinstance(handler, Dispatcher):
            event_types = handler.event_types
        self._event_types = None if event_types is None else frozenset(t.encode() for t in event_types)
        self._batch_scope = batch_scope
        self._solo_types = frozenset(solo_types)
        self._solo = solo
        if merge_partitions < 0:
            raise ValueError("merge_partitions must be >= 0")
        self._lanes = int(merge_partitions) if batch_scope is not None else 0
        self._merge_partitions = self._lanes > 0
        self._pipelined = pipeline_partitions
        # A batch transaction commits once it has run this long: its locks (SQLite's one write lock,
        # a station's row) must not keep API requests waiting for long.
        self._batch_max_s = batch_max_s
        # Per partition: the offset after the last record handled (committed or not), for the lag.
        self._position: dict[TopicPartition, int] = {}
        self._ends: dict[TopicPartition, int] = {}
        self._looking_up: asyncio.Task[None] | None = None
        self._consumer: AIOKafkaConsumer | None = None
        # Its own sticky assignor: aiokafka's keeps its memory per process, not per consumer (_sticky.py).
        self._sticky = sticky_assignor()
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
        self._rewind_until = 0.0
        self._rewind_pending = False
        self._topics_checked_at = 0.0
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
                "heartbeat_interval_ms": config.heartbeat_interval_ms(),
                # Sticky: after a rebalance every survivor gets back the partitions it had (its caches stay
                # warm), only the dead member's move. aiokafka has no cooperative protocol (aio-libs/aiokafka#1126):
                # survivors still pause for the rebalance itself (docs/scaling.md). Exactly one assignor:
                # aiokafka 0.14 sends one JoinGroup per listed assignor, each with other metadata, and the
                # second one starts a new rebalance, for ever (aio-libs/aiokafka#1168; issue 20).
                "partition_assignment_strategy": (self._sticky,),
                # Long enough for the revoke callback to finish an in-flight message and commit it.
                "rebalance_timeout_ms": 60_000,
                **self._fetch,
                **self._consumer_options,
            }
            consumer = AIOKafkaConsumer(
                **config.connection(),
                client_id=config.client_id,
                group_id=self._group_id,
                group_instance_id=f"{self._group_id}-{config.group_instance_id}" if config.group_instance_id else None,
                enable_auto_commit=False,
                auto_offset_reset=self._auto_offset_reset,
                max_poll_records=self._max_poll_records,
                **options,
            )
            listener.kafka = consumer
            consumer.subscribe(self._topics, listener=listener)
            try:
                await consumer.start()
            except BaseException:
                await stop_client(consumer, what=f"consumer {self._group_id}")
                raise
            return consumer

        self._stopping = False
        consumer = await retry_until_reachable(
            connect, what=f"consumer {self._group_id}", bootstrap=config.bootstrap, give_up_after=config.connect_timeout
        )
        self._consumer = consumer
        self._log.info("consumer started", topics=self._topics, assignment=_tps(consumer.assignment()))
        _RUNNING.add(self)
        loop = self._loop_pipelined(consumer) if self._pipelined else self._loop(consumer)
        self._task = asyncio.create_task(loop, name=f"consumer:{self._group_id}")

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
        if self._looking_up is not None:
            self._looking_up.cancel()
        _RUNNING.discard(self)
        await self._commit_handled(consumer)
        # Leaves the group so the partitions move on without waiting for a timeout.
        await stop_client(consumer, what=f"consumer {self._group_id}", within=15.0)
        self._log.info("consumer stopped")

    async def rewind(self) -> None:
        """Forget what was handled on the old broker and read every assigned partition from its beginning.

        Offsets handled on a broker that has since restarted empty must never be committed to the new one:
        they would make this group skip that many records of the recreated topics (the replayed ones).
        """
        self._handled.clear()
        self._ends.clear()  # the recreated topics start again at 0
        if self._pipelined and self._batch is not None:
            self._batch.abandon.set()  # the loop rewinds once no partition's batch is in flight
        # The group may be rejoined after this (the new broker never heard of it), and offsets committed in
        # between may be stale: partitions assigned soon after are read from the beginning too.
        self._rewind_until = time.monotonic() + _REWIND_WINDOW_S
        self._rewind_pending = True  # done by the loop, between two polls (never inside a rebalance callback)
        self._log.warning("broker restarted empty: reading the partitions again from the start")

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    # -- processing ------------------------------------------------------------------------

    async def _loop(self, consumer: AIOKafkaConsumer) -> None:
        backoff = self._new_backoff()
        self._last_commit = time.monotonic()
        while not self._stopping:
            try:
                if self._rewind_pending:
                    self._rewind_pending = False
                    self._handled.clear()
                    if assigned := consumer.assignment():
                        await consumer.seek_to_beginning(*assigned)
                self._idle = True
                try:
                    records = await consumer.getmany(timeout_ms=self._poll_ms())
                finally:
                    self._idle = False
                if records and not self._stopping:
                    batch = self._batch = _Batch()
                    try:
                        if self._lanes and len(records) > 1:
                            # A transaction per lane, not per partition: its fixed cost a few times per fetch.
                            lanes = _lanes(list(records.values()), self._lanes)
                            await asyncio.gather(*(self._drain_batched(consumer, None, lane, batch) for lane in lanes))
                        else:
                            await asyncio.gather(*(self._drain(consumer, tp, rs, batch) for tp, rs in records.items()))
                    finally:
                        self._batch = None
                        batch.done.set()
                self._update_lag(consumer)
                self._look_for_missing_topics(consumer)
                await self._commit_if_due_or_caught_up(consumer)
                backoff.reset()
            except asyncio.CancelledError:
                if self._stopping:
                    return
                raise
            except ConsumerStoppedError:
                return
            except Exception as exc:
                # aiokafka reconnects by itself; errors that still surface are logged and polled again.
                self._log.warning("error while consuming; retrying", error=repr(exc), retry_in=backoff.delay)
                self._idle = True
                try:
                    await backoff.wait()
                except asyncio.CancelledError:
                    if self._stopping:
                        return
                    raise
                finally:
                    self._idle = False

    def _new_backoff(self) -> Backoff:
        return Backoff(self._backoff_initial, self._backoff_max)

    def _poll_ms(self) -> int:
        """Poll up to a second, but no longer than until handled offsets are due for their commit."""
        if not self._handled:
            return 1000
        due = self._last_commit + self._commit_interval - time.monotonic()
        return max(0, min(1000, int(due * 1000)))

    def _look_for_missing_topics(self, consumer: AIOKafkaConsumer) -> None:
        """Ask for the metadata again (once a second at most) while a subscribed topic shows no partitions.

        A group joined before its topic existed (a broker that restarted empty, before the reset handlers recreated
        the topics) is assigned none of it, and aiokafka looks again only when its metadata is `metadata_max_age_ms`
        (5 minutes) old: the group read nothing meanwhile. Fresh metadata showing the partitions makes it rejoin.
        """
        now = time.monotonic()
        if now - self._topics_checked_at < _MISSING_TOPIC_CHECK_S:
            return
        self._topics_checked_at = now
        client = consumer._client
        if any(not client.cluster.partitions_for_topic(topic) for topic in self._topics):
            client.force_metadata_update()  # the coordinator's metadata listener rejoins when they show up

    def _mark(self, tp: TopicPartition, offset: int) -> None:
        self._handled[tp] = self._position[tp] = offset

    def _work(
        self,
        consumer: AIOKafkaConsumer,
        records: dict[TopicPartition, list[ConsumerRecord]],
        batch: _Batch,
        lanes: int,
    ) -> list[tuple[asyncio.Task[None], frozenset[TopicPartition]]]:
        """The pipelined loop's tasks for one poll: one per partition (or lane), with the partitions each holds."""
        if self._lanes and len(records) > 1:
            return [
                (
                    asyncio.create_task(self._drain_batched(consumer, None, lane, batch)),
                    frozenset(TopicPartition(r.topic, r.partition) for r in lane),
                )
                for lane in _lanes(list(records.values()), lanes)
            ]
        return [
            (asyncio.create_task(self._drain(consumer, tp, rs, batch)), frozenset((tp,))) for tp, rs in records.items()
        ]

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
        backoff = self._new_backoff()
        for attempt in range(1, self._max_attempts + 1):
            started = time.perf_counter()
            try:
                # Every line the handler logs carries the station, session and message it is about (logcontext).
                token = CURRENT_EVENT.set(envelope)
                try:
                    with tracing.consumed(envelope, record, self._group_id):
                        await self._handler(envelope)
                finally:
                    CURRENT_EVENT.reset(token)
            except (Exception, asyncio.CancelledError) as exc:
                if isinstance(exc, asyncio.CancelledError) and _being_cancelled():
                    raise
                HANDLER_LATENCY.labels(topic, self._group_id).observe(time.perf_counter() - started)
                MESSAGES_FAILED.labels(topic, self._group_id).inc()
                if attempt >= self._max_attempts:
                    bound.error("handler failed, giving up; dead-lettering", attempt=attempt, exc_info=exc)
                    return await self._dead_letter_record(record, exc, attempts=attempt, batch=batch)
                bound.warning("handler failed; retrying", attempt=attempt, retry_in=backoff.delay, error=repr(exc))
                if await _interrupted(batch, backoff.next()):
                    bound.info("retry interrupted by stop/rebalance; leaving the message for redelivery")
                    return _Outcome.LEAVE
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
        backoff = self._new_backoff()
        while True:
            try:
                await self._dead_letter.publish_raw(dlq, record.value, key=record.key, headers=headers)
            except BusError as error:  # PublishError, or the dead-letter producer is not running
                retry_in = backoff.next()
                self._log.error("dead-letter publish failed; retrying", dlq=dlq, error=repr(error), retry_in=retry_in)
                if await _interrupted(batch, retry_in):
                    return _Outcome.LEAVE
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

    async def _commit_if_due_or_caught_up(self, consumer: AIOKafkaConsumer) -> None:
        """The loops' commit point: `_commit_if_due`, or at once when caught up (`commit_caught_up`)."""
        if self.commit_caught_up and self._handled and self._caught_up(consumer):
            await self._commit_handled(consumer)
        else:
            await self._commit_if_due(consumer)

    def _caught_up(self, consumer: AIOKafkaConsumer) -> bool:
        """Every partition with uncommitted handled offsets is handled up to its last fetch's high watermark."""
        for tp, offset in self._handled.items():
            try:
                high = consumer.highwater(tp)
            except (AssertionError, IllegalStateError):  # no longer assigned: the commit interval decides
                return False
            if high is None or offset < high:
                return False
        return True

    async def _commit_handled(self, consumer: AIOKafkaConsumer) -> None:
        """Commit every partition's handled offset in one request.

        Commits go at most every `commit_interval` seconds (and at a rebalance or stop): a commit is a
        round trip to the group coordinator, too dear to pay per message; a crash redelivers what was
        handled since the last one, which idempotent handlers absorb.
        """
        if not self._not_committing.is_set() or not self._handled:
            return
        if getattr(getattr(consumer, "_coordinator", None), "generation", 0) < 0:
            # Not a member of the group right now (it was lost, e.g. the broker restarted empty): aiokafka
            # would commit as a standalone consumer, which an empty group accepts, so offsets handled on a
            # broker that forgot them could land on the new one and skip its records. Wait for the rejoin.
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
        self._epoch += 1  # records polled before this belong to the assignment being revoked (_pipelining.py)
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
            self._ends.pop(tp, None)
            with contextlib.suppress(KeyError):
                CONSUMER_LAG.remove(self._group_id, tp.topic, str(tp.partition))


class _RevokeListener(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka ships no types: base is Any
    """Before a rebalance: finish and commit in-flight messages, drop the rest of the batch.

    The rest is not lost: a new assignment restarts fetching from the committed offsets.
    """

    def __init__(self, owner: EventConsumer) -> None:
        self._owner = owner
        self.kafka: AIOKafkaConsumer | None = None

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._owner._on_revoked(revoked)

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        # The join just completed (also the first, inside start(), before the owner knows its consumer).
        generation = getattr(getattr(self.kafka, "_coordinator", None), "generation", None)
        remember_generation(self._owner._sticky, generation)
        self._owner._log.info("partitions assigned", assigned=_tps(assigned), generation=generation)
        if assigned and time.monotonic() < self._owner._rewind_until:
            self._owner._rewind_pending = True


def _lanes(partitions: list[list[ConsumerRecord]], count: int) -> list[list[ConsumerRecord]]:
    """The partitions' records spread over at most `count` lanes of about equal size, each partition whole."""
    lanes: list[list[ConsumerRecord]] = [[] for _ in range(min(count, len(partitions)))]
    for records in sorted(partitions, key=len, reverse=True):
        min(lanes, key=len).extend(records)
    return [lane for lane in lanes if lane]


def _being_cancelled() -> bool:
    """Tell our own cancellation (stop) from a CancelledError a handler let escape."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


def _tps(tps: set[TopicPartition] | frozenset[TopicPartition]) -> list[str]:
    return sorted(f"{tp.topic}[{tp.partition}]" for tp in tps)
