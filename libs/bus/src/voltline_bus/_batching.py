"""Batch consumption and lag for `EventConsumer` (see its docstring and ADR 0008), kept apart to keep modules small."""

from __future__ import annotations

import asyncio
import contextlib
import enum
import time
from collections.abc import Awaitable, Callable, Collection, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from typing import Any, Literal

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import IllegalStateError, KafkaError
from pydantic import ValidationError
from voltline_events import Envelope

from voltline_bus import tracing
from voltline_bus.logcontext import CURRENT_EVENT
from voltline_bus.metrics import (
    BATCH_FALLBACKS,
    BATCH_LATENCY,
    BATCH_SIZE,
    CONSUMER_LAG,
    MESSAGES_CONSUMED,
    MESSAGES_HANDLED,
)

_MIN_HINT = 32  # the fewest events a batch is offered (see _flush_run)
_END_OFFSETS_TIMEOUT_S = 3.0  # lag() asks the broker for the partitions' ends at most this long

# Opens the transaction that a batch of envelopes is handled in: commits on a clean exit, rolls back
# when an exception leaves it (voltline_store.TransactionBatch is the one services use).
BatchScope = Callable[[Sequence[Envelope]], AbstractAsyncContextManager[Any]]


@dataclass
class _Batch:
    """One getmany() result being worked on; `abandon` stops it after the in-flight messages."""

    abandon: asyncio.Event = field(default_factory=asyncio.Event)
    done: asyncio.Event = field(default_factory=asyncio.Event)


class _Outcome(enum.Enum):
    COMMIT = "commit"  # handled or dead-lettered: move past it
    LEAVE = "leave"  # interrupted (stop/rebalance): leave it uncommitted for redelivery


class BatchingMixin:
    """What EventConsumer does with `batch_scope`, and its lag; relies on EventConsumer's state."""

    _consumer: AIOKafkaConsumer | None
    _group_id: str
    _log: Any
    _handler: Callable[[Envelope], Awaitable[None]]
    _event_types: frozenset[bytes] | None
    _auto_offset_reset: Literal["earliest", "latest"]
    _backoff_max: float
    _batch_scope: BatchScope | None
    _batch_max_s: float
    # How many events the next batch is offered: about twice what fitted in the time budget last time, so
    # that a batch cut short does not make the scope prepare (inbox markers) for many it will not handle. The
    # first offer is a full batch's worth: starting at 64 and doubling, every partition's first ~1,000 records
    # went in four transactions, each paying the batch's fixed round trips (bench/RESULTS.md, session 10).
    _batch_hint: int = 512
    _solo_types: Collection[str]
    # One transaction for all the partitions of a fetch (EventConsumer's `merge_partitions`): `tp` is None below
    # and each record's own partition is marked.
    _merge_partitions: bool = False
    _solo: Callable[[Envelope], bool] | None
    _position: dict[TopicPartition, int]
    # Per partition, the newest end offset known (a fetch's high watermark or the broker's answer to lag()).
    _ends: dict[TopicPartition, int]
    _looking_up: asyncio.Task[None] | None

    def _mark(self, tp: TopicPartition, offset: int) -> None:
        raise NotImplementedError

    def _wanted(self, headers: Sequence[tuple[str, bytes]] | None) -> bool:
        raise NotImplementedError

    async def _process(self, record: ConsumerRecord, batch: _Batch) -> _Outcome:
        raise NotImplementedError

    async def _commit_if_due(self, consumer: AIOKafkaConsumer) -> None:
        raise NotImplementedError

    async def lag(self) -> dict[str, int]:
        """Records beyond the last one handled, per assigned `topic[partition]`, against the partition's end.

        The end is asked of the broker (ListOffsets): the high watermark of the last fetch under-reports a
        starved consumer, which stops fetching once it has records it has not handled yet. If the broker does
        not answer in time, the last fetch's high watermark stands in. Also refreshes the lag gauge.
        """
        consumer = self._consumer
        if consumer is None:
            return {}
        assigned = sorted(consumer.assignment())
        unknown = [tp for tp in assigned if tp not in self._position]
        if unknown:  # nothing handled there since the assignment: start from the group's committed offset
            if self._looking_up is None or self._looking_up.done():
                # Shielded: a caller that gives up (a /readyz timeout) still leaves the answer for the next.
                self._looking_up = asyncio.create_task(self._remember_starts(consumer, unknown))
            with contextlib.suppress(KafkaError, IllegalStateError, TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._looking_up), timeout=5.0)
        ends: dict[TopicPartition, int] = {}
        if assigned:
            try:
                ends = await asyncio.wait_for(consumer.end_offsets(assigned), timeout=_END_OFFSETS_TIMEOUT_S)
            except (KafkaError, IllegalStateError, TimeoutError) as exc:
                self._log.debug("could not read the partitions' end offsets; lag as of the last fetch", error=repr(exc))
        out: dict[str, int] = {}
        for tp in assigned:
            high, position = _newest(consumer.highwater(tp), ends.get(tp)), self._position.get(tp)
            if high is not None and position is not None:
                self._ends[tp] = high
                lag = max(0, high - position)
                out[f"{tp.topic}[{tp.partition}]"] = lag
                CONSUMER_LAG.labels(self._group_id, tp.topic, str(tp.partition)).set(lag)
        return out

    async def _remember_starts(self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]) -> None:
        try:
            starts = await self._starts_of(consumer, tps)
        except (KafkaError, IllegalStateError) as exc:
            self._log.debug("could not read where the group starts; lag unknown for now", error=repr(exc))
            return
        for tp, start in starts.items():
            if start is not None:
                self._position.setdefault(tp, start)

    async def _starts_of(
        self, consumer: AIOKafkaConsumer, tps: list[TopicPartition]
    ) -> dict[TopicPartition, int | None]:
        """Where this group starts in `tps`: its committed offset, else where `auto_offset_reset` puts it.

        Not the fetch position: the fetcher reads ahead of what has been handled.
        """
        committed = await asyncio.gather(*(consumer.committed(tp) for tp in tps))
        starts: dict[TopicPartition, int | None] = dict(zip(tps, committed, strict=True))
        missing = [tp for tp, offset in starts.items() if offset is None]
        if missing and self._auto_offset_reset == "earliest":
            starts.update(await consumer.beginning_offsets(missing))
        elif missing:
            starts.update({tp: consumer.highwater(tp) for tp in missing})
        return starts

    def _update_lag(self, consumer: AIOKafkaConsumer) -> None:
        for tp in consumer.assignment():
            high = _newest(consumer.highwater(tp), self._ends.get(tp))
            position = self._position.get(tp)
            if high is None or position is None:
                continue
            CONSUMER_LAG.labels(self._group_id, tp.topic, str(tp.partition)).set(max(0, high - position))

    async def _drain_batched(
        self, consumer: AIOKafkaConsumer, tp: TopicPartition | None, records: list[ConsumerRecord], batch: _Batch
    ) -> None:
        """One partition's records (`tp`; None: a whole fetch's, partition after partition, each record marked on
        its own partition) as runs handled in one transaction each; others alone, in order.

        A record skipped by its type (no handler) does not end a run: under a mixed stream (heartbeats between
        StatusNotifications) runs would collapse to one or two events. Skipped records inside a run are
        covered by the run's committed position; those after its last record are marked once it is done.
        """
        skipped: dict[str, int] = {}  # records passed over by type, per topic: counted once per fetch
        try:
            await self._drain_runs(consumer, tp, records, batch, skipped)
        finally:
            for topic, count in skipped.items():
                MESSAGES_CONSUMED.labels(topic, self._group_id).inc(count)
        if tp is None and records and not batch.abandon.is_set():
            last = records[-1]  # handled (or skipped, or dead-lettered) only if every record before it was
            if self._position.get(TopicPartition(last.topic, last.partition), -1) <= last.offset:
                self._seek_back_unhandled(consumer, records)

    def _seek_back_unhandled(self, consumer: AIOKafkaConsumer, records: list[ConsumerRecord]) -> None:
        """A lane that ended early (a record that must be read again: `_alone`'s error path seeks its own partition
        only) leaves the other partitions' records of the lane unhandled, and aiokafka's position is past them:
        the next poll would skip them. Each partition of the lane goes back to its first record not handled."""
        spans: dict[TopicPartition, tuple[int, int]] = {}
        for record in records:
            at = TopicPartition(record.topic, record.partition)
            first, _ = spans.get(at, (record.offset, record.offset))
            spans[at] = (first, record.offset)
        for at, (first, last) in spans.items():
            handled = self._position.get(at)
            resume = handled if handled is not None and handled >= first else first
            if resume <= last:
                with contextlib.suppress(KafkaError, IllegalStateError, AssertionError):
                    consumer.seek(at, resume)

    async def _drain_runs(
        self,
        consumer: AIOKafkaConsumer,
        tp: TopicPartition | None,
        records: list[ConsumerRecord],
        batch: _Batch,
        skipped: dict[str, int],
    ) -> None:
        run: list[tuple[ConsumerRecord, Envelope]] = []
        # Per partition: past the records skipped after the run's last one of that partition.
        skipped_to: dict[TopicPartition, int] = {}
        for record in records:
            if batch.abandon.is_set():
                break
            envelope = self._batchable(record)
            where = tp if tp is not None else TopicPartition(record.topic, record.partition)
            if isinstance(envelope, Envelope):
                run.append((record, envelope))
                if skipped_to:
                    skipped_to.pop(where, None)
                continue
            if envelope is _Outcome.COMMIT:  # skipped without a handler: nothing to do
                skipped[record.topic] = skipped.get(record.topic, 0) + 1
                if run:
                    skipped_to[where] = record.offset + 1
                else:
                    self._mark(where, record.offset + 1)
                continue
            if run:
                if not await self._flush_run(consumer, tp, run, batch):
                    return
                run = []
                for at, offset in skipped_to.items():
                    self._mark(at, offset)
                skipped_to = {}
            if not await self._alone(consumer, where, record, batch):
                return
        if run and await self._flush_run(consumer, tp, run, batch):
            for at, offset in skipped_to.items():
                self._mark(at, offset)
        await self._commit_if_due(consumer)

    def _batchable(self, record: ConsumerRecord) -> Envelope | _Outcome | None:
        """The record's envelope if it goes into a batch; COMMIT if it is skipped; None: handle it alone."""
        if record.value is None or (self._event_types is not None and not self._wanted(record.headers)):
            return _Outcome.COMMIT  # counted as consumed by the caller
        try:
            envelope = Envelope.from_bytes(record.value)
        except (ValidationError, ValueError):
            return None  # dead-lettered by the one-at-a-time path
        if envelope.type in self._solo_types or (self._solo is not None and self._solo(envelope)):
            return None
        return envelope

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
        tp: TopicPartition | None,
        run: list[tuple[ConsumerRecord, Envelope]],
        batch: _Batch,
    ) -> bool:
        """Handle `run` in one transaction; on failure isolate the failing record (see the class doc)."""
        while run:
            hint = max(1, self._batch_hint)
            # A remainder under half a hint goes with this batch: alone it would pay a batch's fixed round trips for
            # a few events, at a drain's end with no other partition's work to overlap them.
            offered = run if len(run) < hint + hint // 2 else run[:hint]
            done, failed_at = await self._try_run(offered)
            if done:
                grown = 2 * done if done < len(offered) else 2 * len(offered)
                # Never below _MIN_HINT: a starved process (niced under load) cut every batch after one event,
                # then was offered two at a time and paid a batch's fixed cost for each (~1 event/s).
                self._batch_hint = max(_MIN_HINT, min(grown, 5000))
                if tp is not None:
                    self._mark(tp, run[done - 1][0].offset + 1)
                else:  # records of several partitions, each in order: the last of each is where it goes on
                    for record, _ in run[:done]:
                        self._mark(TopicPartition(record.topic, record.partition), record.offset + 1)
                run = run[done:]
                if run and batch.abandon.is_set():
                    return False
                continue
            BATCH_FALLBACKS.labels(run[0][0].topic, self._group_id).inc()
            if failed_at < 0:  # the commit itself failed: no culprit known, handle each alone
                for record, _ in run:
                    where = tp if tp is not None else TopicPartition(record.topic, record.partition)
                    if batch.abandon.is_set() or not await self._alone(consumer, where, record, batch):
                        return False
                return True
            if failed_at > 0 and not await self._flush_run(consumer, tp, run[:failed_at], batch):
                return False
            culprit = run[failed_at][0]
            where = tp if tp is not None else TopicPartition(culprit.topic, culprit.partition)
            if batch.abandon.is_set() or not await self._alone(consumer, where, culprit, batch):
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
        started = opened = time.perf_counter()
        try:
            async with self._batch_scope([envelope for _, envelope in run]):
                # The budget bounds how long the batch holds its locks: it starts once the transaction is open
                # (waiting for SQLite's write lock is not time spent holding it).
                started = time.perf_counter()
                traced = tracing.enabled()
                for index, (record, envelope) in enumerate(run):
                    failed_at = index
                    # Every line the handler logs names the event (voltline_bus.logcontext: one variable, read only
                    # when a line is written).
                    token = CURRENT_EVENT.set(envelope)
                    try:
                        if traced:
                            with tracing.consumed(envelope, record, self._group_id):
                                await self._handler(envelope)
                        else:
                            await self._handler(envelope)
                    finally:
                        CURRENT_EVENT.reset(token)
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
        BATCH_LATENCY.labels(topic, self._group_id).observe(time.perf_counter() - opened)
        BATCH_SIZE.labels(topic, self._group_id).observe(done)
        per_topic = {topic: done}
        if self._merge_partitions:  # a run may hold records of several topics
            per_topic = {}
            for record, _ in run[:done]:
                per_topic[record.topic] = per_topic.get(record.topic, 0) + 1
        for name, count in per_topic.items():
            MESSAGES_CONSUMED.labels(name, self._group_id).inc(count)
            MESSAGES_HANDLED.labels(name, self._group_id).inc(count)
        return done, -1


def _newest(*offsets: int | None) -> int | None:
    """The largest known offset (a partition's end only grows; a rewind clears what was known)."""
    known = [o for o in offsets if o is not None]
    return max(known) if known else None


async def _interrupted(batch: _Batch, delay: float) -> bool:
    """Sleep `delay` seconds unless the batch is abandoned first; True if it was."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(batch.abandon.wait(), timeout=delay)
    return batch.abandon.is_set()


def _error_text(exc: BaseException) -> str:
    text = str(exc)
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
