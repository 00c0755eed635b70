"""The analytics worker's consumer handler: events are coalesced into one store transaction per batch.

The bus consumer calls `handle` once per event and waits for it (so an offset is committed only after
its event is durable); every event waiting at the moment a flush starts goes into that flush, so
concurrent partitions share transactions instead of queueing behind each other's commits.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voltline_events import Envelope

from voltline_analytics import metrics
from voltline_analytics.adapters.projection_store import StateCache, apply
from voltline_analytics.service_layer.projector import Outcome, relevant

Apply = Callable[[Sequence[Envelope]], Awaitable[Outcome]]


def store_applier(
    sessions: async_sessionmaker[AsyncSession], lateness: timedelta, cache: StateCache | None = None
) -> Apply:
    """Apply a batch in one transaction and record the worker's metrics. With a `cache` (a worker that clears
    it when its partitions move), the live state stays in memory between batches (dropped if a batch fails);
    without one, each batch reads it."""

    async def run(envelopes: Sequence[Envelope]) -> Outcome:
        began = time.perf_counter()
        try:
            async with sessions() as session, session.begin():
                outcome = await apply(session, envelopes, lateness, cache)
        except BaseException:
            if cache is not None:
                cache.clear()  # it may hold what was rolled back
            raise
        metrics.BATCH_DURATION.observe(time.perf_counter() - began)
        metrics.BATCH_SIZE.observe(len(envelopes))
        metrics.EVENTS_APPLIED.inc(outcome.applied)
        metrics.EVENTS_SKIPPED.inc(outcome.skipped)
        metrics.LATE_EVENTS.inc(outcome.late)
        if outcome.max_event_time is not None:
            metrics.EVENT_TIME_LAG.set(max(0.0, (datetime.now(UTC) - outcome.max_event_time).total_seconds()))
        return outcome

    return run


class Coalescer:
    """`await handle(envelope)` returns once the envelope is committed, together with whatever else waits."""

    def __init__(self, apply_batch: Apply) -> None:
        self._apply = apply_batch
        self._pending: list[tuple[Envelope, asyncio.Future[None]]] = []
        self._lock = asyncio.Lock()

    async def handle(self, envelope: Envelope) -> None:
        if not relevant(envelope):
            metrics.EVENTS_SKIPPED.inc()
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((envelope, future))
        async with self._lock:
            if not future.done():
                batch, self._pending = self._pending, []
                try:
                    await self._flush(batch)
                finally:
                    for _, f in batch:
                        if not f.done():  # interrupted (stop): uncommitted, so redelivered
                            f.set_exception(RuntimeError("analytics flush interrupted"))
        return future.result()

    async def _flush(self, batch: list[tuple[Envelope, asyncio.Future[None]]]) -> None:
        """One transaction for the batch; if it fails, each event alone, so one bad event fails only itself."""
        try:
            await self._apply([e for e, _ in batch])
        except Exception as exc:
            if len(batch) == 1:
                batch[0][1].set_exception(exc)
                return
            for envelope, f in batch:
                try:
                    await self._apply([envelope])
                    f.set_result(None)
                except Exception as one:
                    f.set_exception(one)
            return
        for _, f in batch:
            f.set_result(None)
