"""Publishes committed outbox rows to the bus, in insertion order, until each is acknowledged.

Delivery is at-least-once: a crash after the broker acked but before the row was marked sends that row
again on restart, which consumers absorb with the inbox. Nothing is ever dropped: when the bus is down
the rows stay, the relay backs off and retries forever, and the pending-rows gauge shows the backlog.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from voltline_events import Envelope

from voltline_store.metrics import OUTBOX_PENDING, RELAY_ERRORS, RELAY_LAG, RELAY_PUBLISHED
from voltline_store.outbox import outbox_table
from voltline_store.plans import custom_plans

log = structlog.get_logger(__name__)

# Only one relay drains a database at a time, so that two instances can't interleave batches and
# reorder one station's events; the others stay on standby. Advisory locks are per database.
RELAY_LOCK_KEY = 0x766F6C742D6F7574  # "volt-out"
_PURGE_CHUNK = 10_000
_GAUGE_EVERY = 1.0


class Publisher(Protocol):
    """What the relay needs from the bus; `voltline_bus.Producer` provides it. A publisher that also has
    `publish_many(items)` (raising with `.failed` positions, as `voltline_bus.Producer`'s) gets each batch
    in one call; one with `publish_many_stored(items)` (the same, with each envelope's stored bytes) gets the
    rows' bytes without their being decoded and encoded again."""

    async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None:
        """Return only once the broker has acknowledged the event; raise otherwise."""
        ...


@dataclass
class _Batch:
    published: list[int] = field(default_factory=list)
    failed_id: int | None = None
    error: BaseException | None = None
    standby: bool = False


class OutboxRelay:
    """Background task moving the outbox to the bus. One per service process."""

    def __init__(
        self,
        engine: AsyncEngine,
        publisher: Publisher,
        *,
        batch_size: int = 100,
        poll_interval: float = 0.5,
        backoff_max: float = 10.0,
        backoff_initial: float = 0.1,
        publish_timeout: float = 15.0,
        name: str = "outbox",
    ) -> None:
        self._engine = engine
        self._publisher = publisher
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._backoff_max = backoff_max
        self._backoff_initial = backoff_initial
        self._publish_timeout = publish_timeout
        self._name = name
        self._locking = engine.dialect.name == "postgresql"
        self._wakeup = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._failures = 0
        self._gauge_at = 0.0
        # A lazy proxy: constructors run before the service configures logging.
        self._log = structlog.get_logger(__name__, relay=name)
        self._lag = RELAY_LAG.labels(name)
        self._published_total = RELAY_PUBLISHED.labels(name)
        # The batch's read as plain SQL run through the driver: rows come back as tuples with no per-column
        # result processing (only `created_at`, for the lag, is decoded); the partial index serves it.
        self._select_sql = (
            "SELECT id, topic, key, value, created_at FROM outbox WHERE published_at IS NULL"
            f" ORDER BY id LIMIT {int(batch_size)}" + (" FOR UPDATE SKIP LOCKED" if self._locking else "")
        )
        self._created_at: Callable[[Any], Any] | None = outbox_table.c.created_at.type.dialect_impl(
            engine.dialect
        ).result_processor(engine.dialect, None)
        ids = (
            outbox_table.c.id == sa.any_(sa.bindparam("ids", type_=postgresql.ARRAY(sa.BigInteger())))
            if self._locking
            else outbox_table.c.id.in_(sa.bindparam("ids", expanding=True))
        )
        # Built once: the statement's cache key is the same for every batch, whatever its ids.
        self._mark_published = (
            sa.update(outbox_table)
            .where(ids)
            .values(published_at=sa.bindparam("now", type_=outbox_table.c.published_at.type))
            .values(attempts=outbox_table.c.attempts + 1)
        )

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    async def start(self) -> None:
        if self.running:
            return
        self._stopping = False
        self._task = asyncio.create_task(self._run(), name=f"outbox-relay-{self._name}")

    async def stop(self, grace_s: float | None = 30.0) -> None:
        """Stop after the batch in flight; past `grace_s` cancel it (its rows are simply sent again later)."""
        task, self._task = self._task, None
        if task is None:
            return
        self._stopping = True
        self._wakeup.set()
        try:
            await asyncio.wait_for(asyncio.shield(task), grace_s)
        except TimeoutError:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            self._log.warning("outbox relay cancelled mid-batch", grace_s=grace_s)

    def wake(self) -> None:
        """Publish now rather than at the next poll; call after committing outbox rows."""
        self._wakeup.set()

    async def run_once(self) -> int:
        """Publish one batch; returns how many rows were published. Raises what publishing raised."""
        batch = await self._run_batch()
        if batch.error is not None:
            raise batch.error
        return len(batch.published)

    async def pending(self) -> int:
        """How many rows await publishing (also exported as a gauge)."""
        async with self._engine.connect() as conn:
            count = await conn.scalar(
                sa.select(sa.func.count()).select_from(outbox_table).where(outbox_table.c.published_at.is_(None))
            )
        return int(count or 0)

    async def republish_recent(self, within: timedelta) -> int:
        """Mark rows published in the last `within` as unpublished again, so the relay sends them once more.

        For a broker that lost what it had acknowledged (the embedded tansu broker after a restart): the
        rows a consumer had not read yet are among them, and consumers absorb the rest with the inbox.
        """
        cutoff = datetime.now(UTC) - within
        async with self._engine.begin() as conn:
            result = await conn.execute(
                sa.update(outbox_table)
                .where(outbox_table.c.published_at.is_not(None), outbox_table.c.published_at >= cutoff)
                .values(published_at=None)
            )
        self._log.info("outbox rows queued again after a broker reset", rows=result.rowcount)
        self.wake()
        return int(result.rowcount)

    async def purge_published(self, older_than: timedelta) -> int:
        """Delete rows published more than `older_than` ago, in small transactions; returns the count."""
        cutoff = datetime.now(UTC) - older_than
        chunk = (
            sa.select(outbox_table.c.id)
            .where(outbox_table.c.published_at.is_not(None), outbox_table.c.published_at < cutoff)
            .limit(_PURGE_CHUNK)
        )
        total = 0
        while True:
            async with self._engine.begin() as conn:
                result = await conn.execute(
                    sa.delete(outbox_table).where(outbox_table.c.id.in_(chunk.scalar_subquery()))
                )
            total += result.rowcount
            if result.rowcount < _PURGE_CHUNK:
                break
        self._log.info("outbox purged", rows=total, older_than_s=older_than.total_seconds())
        return total

    async def _run(self) -> None:
        self._log.info("outbox relay started", batch_size=self._batch_size)
        while not self._stopping:
            self._wakeup.clear()
            try:
                batch = await self._run_batch()
            except Exception as exc:  # the database itself is unreachable
                batch = _Batch(error=exc)
            await self._update_gauge(batch)
            if batch.error is not None:
                await self._back_off(batch)
                continue
            if self._failures:
                self._log.info("outbox relay recovered", failed_batches=self._failures)
                self._failures = 0
            if batch.standby or len(batch.published) < self._batch_size:
                await self._sleep(self._poll_interval, wakeable=True)
        self._log.info("outbox relay stopped")

    async def _run_batch(self) -> _Batch:
        if self._locking:
            # PostgreSQL: hold the rows locked while publishing, so no other relay can take them.
            async with self._engine.begin() as conn:
                if not await conn.scalar(sa.select(sa.func.pg_try_advisory_xact_lock(RELAY_LOCK_KEY))):
                    return _Batch(standby=True)
                rows = (await conn.exec_driver_sql(self._select_sql)).all()
                batch = await self._publish_batch(rows)
                await self._record(conn, batch)
        else:
            # SQLite: a transaction holds the whole database's write lock, so never keep one open
            # across network calls. A SQLite database has a single service instance, so a single relay.
            async with self._engine.begin() as conn:
                rows = (await conn.exec_driver_sql(self._select_sql)).all()
            batch = await self._publish_batch(rows)
            if rows:
                async with self._engine.begin() as conn:
                    await self._record(conn, batch)
        if batch.published:
            self._published_total.inc(len(batch.published))
        return batch

    async def _publish(self, rows: Sequence[Any]) -> _Batch:
        batch = _Batch()
        for row in rows:
            try:
                # An idempotent Kafka producer never gives up on a message while the broker is down, so
                # without a limit the relay would hang, silent, for the whole outage holding its row locks.
                # The abandoned message may still go out when the broker returns, ahead of its retry:
                # a duplicate, which the inbox absorbs; never a reordering, since the producer keeps FIFO.
                async with asyncio.timeout(self._publish_timeout):
                    await self._publisher.publish(row.topic, Envelope.from_bytes(row.value), key=row.key)
            except TimeoutError:
                batch.failed_id = row.id
                batch.error = TimeoutError(f"not acknowledged within {self._publish_timeout}s")
                break
            except Exception as exc:
                batch.failed_id, batch.error = row.id, exc
                break
            batch.published.append(row.id)
            self._observe_lag(datetime.now(UTC), row.created_at)
        return batch

    async def _record(self, conn: AsyncConnection, batch: _Batch) -> None:
        now = datetime.now(UTC)
        table = outbox_table
        if batch.published:
            # PostgreSQL: one array parameter, one statement text whatever the batch's size (prepared once),
            # planned for its ids each time: the generic plan a new (empty) outbox gave it is a sequential scan
            # of the whole table, published rows included (~1 ms per 1,000 rows, each relay round). The
            # transaction ends right after: the setting goes with it.
            async with custom_plans(conn, restore=False):
                await conn.execute(self._mark_published, {"ids": batch.published, "now": now})
        if batch.failed_id is not None:
            await conn.execute(
                sa.update(table)
                .where(table.c.id == batch.failed_id)
                .values(attempts=table.c.attempts + 1, last_error=repr(batch.error)[:2000])
            )

    async def _publish_batch(self, rows: Sequence[Any]) -> _Batch:
        stored = getattr(self._publisher, "publish_many_stored", None)
        many = getattr(self._publisher, "publish_many", None)
        if (stored is None and many is None) or len(rows) < 2:
            return await self._publish(list(rows))
        # The whole batch in flight at once (queued in id order, so per-key order holds): one round trip to
        # the broker per batch instead of one per row, which capped a service at ~40 events/s on a busy broker.
        batch = _Batch()
        try:
            async with asyncio.timeout(self._publish_timeout):
                if stored is not None:  # the stored bytes as they are: not validated and encoded again
                    await stored([(row.topic, row.value, row.key) for row in rows])
                elif many is not None:
                    await many([(row.topic, Envelope.from_bytes(row.value), row.key) for row in rows])
            done = len(rows)
        except TimeoutError:
            done = 0  # which ones the broker took is unknown: all go again (duplicates, absorbed by the inbox)
            batch.error = TimeoutError(f"not acknowledged within {self._publish_timeout}s")
        except Exception as exc:
            failed = getattr(exc, "failed", ())
            done = min(failed) if failed else 0  # rows before the first refused one were acknowledged
            batch.error = exc
        if done < len(rows):
            batch.failed_id = rows[done].id
        now = datetime.now(UTC)
        for row in rows[:done]:
            batch.published.append(row.id)
            self._observe_lag(now, row.created_at)
        return batch

    def _observe_lag(self, now: datetime, stored: Any) -> None:
        created: datetime = self._created_at(stored) if self._created_at is not None else stored
        self._lag.observe(max(0.0, (now - created).total_seconds()))

    async def _back_off(self, batch: _Batch) -> None:
        self._failures += 1
        RELAY_ERRORS.labels(self._name).inc()
        delay = min(self._backoff_max, self._backoff_initial * 2 ** min(self._failures - 1, 30))
        delay *= random.uniform(0.8, 1.0)  # replicas retrying in lockstep would hammer the broker together
        self._log.warning(
            "outbox relay failed; retrying",
            error=repr(batch.error),
            failed_row=batch.failed_id,
            published_before_failure=len(batch.published),
            failed_batches=self._failures,
            retry_in_s=round(delay, 3),
        )
        # A commit's wake() must not cut the back-off short, or a busy service would hammer a dead bus.
        await self._sleep(delay, wakeable=False)

    async def _sleep(self, delay: float, *, wakeable: bool) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + delay
        while not self._stopping:
            remaining = deadline - loop.time()
            if remaining <= 0:
                return
            try:
                async with asyncio.timeout(remaining):
                    await self._wakeup.wait()
            except TimeoutError:
                return
            if wakeable:
                return
            self._wakeup.clear()

    async def _update_gauge(self, batch: _Batch) -> None:
        if batch.error is None and not batch.standby and len(batch.published) < self._batch_size:
            # The batch read every unpublished row and published them all: none is pending, no query needed.
            # (A count every second was most of an idle relay's cost.)
            OUTBOX_PENDING.labels(self._name).set(0)
            return
        now = asyncio.get_running_loop().time()
        if now - self._gauge_at < _GAUGE_EVERY:
            return
        self._gauge_at = now
        try:
            OUTBOX_PENDING.labels(self._name).set(await self.pending())
        except Exception as exc:
            self._log.debug("outbox gauge not updated", error=repr(exc))
