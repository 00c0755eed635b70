"""Per-partition pipelining for `EventConsumer(pipeline_partitions=True)` (ADR 0031), kept apart to keep modules small.

Without it the loop fetches, handles every partition of the fetch, and only then fetches again: each fetch waits
for its slowest partition's batch (its bulk writes and COMMIT), and the next one begins with every partition's
reads at once, work only the database does. Here a partition whose batch is done takes its next records at once:
`getmany(*free_partitions)` (aiokafka returns only those partitions' records and keeps the others' buffered; its
fetcher prefetches every partition whose buffer is empty, so a busy partition's next records are usually there
when its batch ends), one task per partition (or per lane) in flight, the loop waking at the first one done.

Never `getmany()` with no partition: that means every partition (faust's robinhood/faust#69). Partitions are not
paused either: aiokafka's fetcher would stop prefetching them.

Revocation and rewind set the shared `_Batch`'s `abandon`: every task stops after its in-flight message or batch
transaction, no new task starts, and `done` is set once none is in flight (the revocation callback waits for it,
then commits what was handled). A poll's records are tagged with the consumer's epoch when aiokafka returned them
(`_epoch`, bumped at every revocation and rewind); records of an older epoch are dropped unhandled: the new
assignment (aiokafka resets a newly assigned partition to its committed offset) or the rewind reads them again.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from aiokafka.errors import ConsumerStoppedError, IllegalStateError, KafkaError

from voltline_bus._batching import _Batch
from voltline_bus._retry import Backoff

_Records = dict[TopicPartition, list[ConsumerRecord]]
_POLL_MS = 1000  # a poll for the free partitions waits this long for records (it is asked again at once)
_MIN_WAIT_MS = 20  # the loop's shortest wait: no spinning while a commit cannot go out


class PipeliningMixin:
    """EventConsumer's loop with `pipeline_partitions=True`; relies on EventConsumer's state and methods."""

    _batch: _Batch | None
    _stopping: bool
    _idle: bool
    _lanes: int
    _max_poll_records: int
    _rewind_pending: bool
    _handled: dict[TopicPartition, int]
    _position: dict[TopicPartition, int]
    _last_commit: float
    _log: Any
    # Bumped when a revocation or a rewind begins: records polled before belong to an assignment that is gone.
    _epoch: int = 0
    # BatchingMixin's (after this class in EventConsumer's bases: a stub here would hide it).
    _update_lag: Callable[[AIOKafkaConsumer], None]

    def _new_backoff(self) -> Backoff:
        raise NotImplementedError

    def _poll_ms(self) -> int:
        raise NotImplementedError

    def _look_for_missing_topics(self, consumer: AIOKafkaConsumer) -> None:
        raise NotImplementedError

    async def _commit_if_due_or_caught_up(self, consumer: AIOKafkaConsumer) -> None:
        raise NotImplementedError

    def _work(
        self, consumer: AIOKafkaConsumer, records: _Records, batch: _Batch, lanes: int
    ) -> list[tuple[asyncio.Task[None], frozenset[TopicPartition]]]:
        raise NotImplementedError

    async def _loop_pipelined(self, consumer: AIOKafkaConsumer) -> None:
        backoff = self._new_backoff()
        self._last_commit = time.monotonic()
        tasks: dict[asyncio.Task[None], frozenset[TopicPartition]] = {}
        poll: asyncio.Task[tuple[int, _Records]] | None = None
        polled: frozenset[TopicPartition] = frozenset()
        try:
            while True:
                try:
                    batch = self._batch
                    winding = self._stopping or self._rewind_pending or (batch is not None and batch.abandon.is_set())
                    if winding and batch is not None:
                        batch.abandon.set()  # a stop or a rewind: the tasks stop after their in-flight work
                    if not tasks and batch is not None:
                        self._batch = None
                        batch.done.set()
                    if not tasks and self._stopping:
                        return
                    if not tasks and self._rewind_pending:
                        await _cancel(poll)  # what it read is read again from the beginning
                        poll = None
                        self._rewind()
                        if assigned := consumer.assignment():
                            await consumer.seek_to_beginning(*assigned)
                        continue
                    busy = frozenset().union(*tasks.values())
                    room = (self._lanes - len(tasks)) if self._lanes else 1
                    free = frozenset(consumer.assignment()) - busy if not winding and room > 0 else frozenset()
                    if poll is not None and not poll.done() and polled != free:
                        # A partition got free (or the assignment moved): ask again for the new set.
                        late, poll = await _cancel(poll), None
                        if late is not None:
                            self._start(consumer, *late, tasks)
                            continue
                    if poll is None and free:
                        polled = free
                        poll = asyncio.create_task(self._poll(consumer, free))
                    waiting: set[asyncio.Future[Any]] = set(tasks)
                    if poll is not None:
                        waiting.add(poll)
                    self._idle = not tasks
                    try:
                        # Woken at the first task done or poll answered, or when offsets are due for their commit.
                        timeout = max(self._poll_ms(), _MIN_WAIT_MS) / 1000
                        if waiting:
                            await asyncio.wait(waiting, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
                        else:  # nothing assigned: a rebalance may bring partitions
                            await asyncio.sleep(timeout)
                    finally:
                        self._idle = False
                    for task in [t for t in tasks if t.done()]:
                        await self._retire(consumer, task, tasks.pop(task))
                    if poll is not None and poll.done():
                        answered, poll = poll, None
                        self._start(consumer, *answered.result(), tasks)  # a fetch error surfaces here
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
                    self._log.warning("error while consuming; retrying", error=repr(exc), retry_in=backoff.delay)
                    self._idle = not tasks
                    try:
                        await backoff.wait()
                    except asyncio.CancelledError:
                        if self._stopping:
                            return
                        raise
                    finally:
                        self._idle = False
        finally:
            # Returning, or cancelled (stop's grace ran out): nothing of ours keeps running; what was not handled
            # stays uncommitted and is delivered again.
            await _cancel(poll)
            for task in tasks:
                task.cancel()
            if tasks:
                await asyncio.wait(tasks)
            if self._batch is not None:
                self._batch.done.set()
                self._batch = None

    async def _poll(self, consumer: AIOKafkaConsumer, partitions: frozenset[TopicPartition]) -> tuple[int, _Records]:
        # `max_poll_records` for each partition asked, not for the poll: each partition here is a batch of its own,
        # and one that got the poll's remainder (a few hundred records behind another's full share) drained its
        # buffer in a second, late batch, alone at the drain's end. Lanes share one poll's records as before.
        most = self._max_poll_records * (1 if self._lanes else len(partitions))
        records: _Records = await consumer.getmany(*partitions, timeout_ms=_POLL_MS, max_records=most)
        # Read in the step that aiokafka drained the records in (it returns them without awaiting after that, and
        # never drains while a reassignment is in progress): the epoch they belong to.
        return self._epoch, records

    def _start(
        self,
        consumer: AIOKafkaConsumer,
        epoch: int,
        records: _Records,
        tasks: dict[asyncio.Task[None], frozenset[TopicPartition]],
    ) -> None:
        """Start the tasks for a poll's records, unless they belong to an older epoch or the loop is winding down.

        Dropped records are read again: a revocation's new assignment starts a partition at its committed offset,
        a rewind seeks to the beginning, a stop leaves them uncommitted.
        """
        if not records:
            return
        batch = self._batch
        abandoned = batch is not None and batch.abandon.is_set()
        if epoch != self._epoch or self._stopping or self._rewind_pending or abandoned:
            self._log.debug("polled records of a revoked assignment dropped", partitions=len(records))
            return
        busy = frozenset().union(*tasks.values())
        if busy.intersection(records):  # cannot happen: a poll asks only for free partitions
            raise AssertionError("records polled for a partition whose batch is in flight")
        if batch is None:
            batch = self._batch = _Batch()
        room = (self._lanes - len(tasks)) if self._lanes else len(records)
        for task, owned in self._work(consumer, records, batch, max(1, room)):
            tasks[task] = owned

    async def _retire(
        self, consumer: AIOKafkaConsumer, task: asyncio.Task[None], owned: frozenset[TopicPartition]
    ) -> None:
        """A task ended. One that raised (a bug: handler errors are caught inside) must not skip its partitions'
        unhandled records: they are read again from after the last one handled."""
        if task.cancelled() or task.exception() is None:
            return
        self._log.error("error in a partition's batch; reading its records again", exc_info=task.exception())
        for tp in owned:
            position = self._position.get(tp)
            with contextlib.suppress(KafkaError, IllegalStateError, AssertionError):
                if position is not None:
                    consumer.seek(tp, position)
                else:
                    await consumer.seek_to_committed(tp)

    def _rewind(self) -> None:
        self._rewind_pending = False
        self._epoch += 1
        self._handled.clear()


async def _cancel(task: asyncio.Task[tuple[int, _Records]] | None) -> tuple[int, _Records] | None:
    """Cancel a pending poll and wait for it to end: what it returned if it had drained records already, else None.

    Cancelled while aiokafka waits for records (or for an assignment), it drains none.
    """
    if task is None:
        return None
    task.cancel()
    await asyncio.wait({task})
    if task.cancelled() or task.exception() is not None:
        return None
    return task.result()
