"""One transaction for a batch of consumed events: the handlers' units of work join it.

A consumer that opened one transaction per event spent its time on commits and inbox inserts, not on
the service's rules. `TransactionBatch` is the batch scope an `EventConsumer` opens around the events
of one fetch (per partition): every `UnitOfWork` entered inside it joins its session instead of opening
its own, its `commit()` only marks the work done, and the batch commits once at the end. The inbox
markers of the whole batch are inserted in one statement up front, and repositories can coalesce
repeated writes (a station's "last seen") into one per batch with `before_commit`.

If any handler fails (even one that catches its own exception after its unit of work rolled back),
the whole batch rolls back and the consumer handles the events again, the failing one alone. Markers
that no handler asked about are removed before the commit: the consumer may cut a batch short (its
time budget) and handle the rest in the next one.
"""

from __future__ import annotations

import asyncio
import contextvars
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from datetime import UTC, datetime
from types import TracebackType
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voltline_events import Envelope

from voltline_store.metrics import BATCH_COMMIT_LATENCY
from voltline_store.outbox import Inbox, Outbox, inbox_table
from voltline_store.relay import OutboxRelay
from voltline_store.types import UTCDateTime

_CURRENT: contextvars.ContextVar[Batch | None] = contextvars.ContextVar("voltline_store_batch", default=None)
_SQLITE_MAX_ROWS = 5000  # 3 bound parameters a row, well under SQLite's 32,766


class BatchInbox(Inbox):
    """The inbox of a batch: markers for the batch's events were inserted at once; answers from memory.

    Ids are kept by their 128-bit integer (`UUID.int`): a `UUID`'s hash and equality are Python code, an int's
    are not, and every consumed event is looked up twice (bench.pipeline.bus)."""

    def __init__(self, session: AsyncSession, consumer: str | None, fresh: set[int], known: Mapping[int, UUID]) -> None:
        super().__init__(session)
        self._consumer = consumer
        self._fresh = fresh  # inserted by this batch and not yet claimed by a handler
        self._known = known  # every event id the up-front insert covered

    @property
    def unclaimed(self) -> set[UUID]:
        """Markers this batch inserted that no handler has asked about."""
        return {self._known[key] for key in self._fresh}

    def claim(self, consumer: str, event_id: UUID) -> bool | None:
        """`first_time` answered from memory, without a coroutine; None when the database must be asked."""
        if consumer != self._consumer:
            return None
        # `fresh` is a subset of `_known`: the common case answers with one lookup
        key = event_id.int
        try:
            self._fresh.remove(key)
        except KeyError:
            return False if key in self._known else None
        return True

    async def first_time(self, consumer: str, event_id: UUID) -> bool:
        claimed = self.claim(consumer, event_id)
        return await super().first_time(consumer, event_id) if claimed is None else claimed

    def release(self) -> None:
        """The batch is over: its ids are not asked about any more (see Batch.release)."""
        self._fresh = set()
        self._known = {}


class Batch:
    """The state shared by the units of work of one batch (see the module docstring)."""

    def __init__(self, factory: object, session: AsyncSession, inbox: Inbox) -> None:
        self.factory = factory  # units of work of this session factory (this store) join the batch
        self.session = session
        self.outbox = Outbox(session)
        self.inbox = inbox
        self.failed: BaseException | None = None
        self.active = True
        # Per-batch memory for repositories (e.g. a station row already locked and read in this batch).
        self.memo: dict[Hashable, Any] = {}
        # The events this batch was opened for: repositories may read what all of them need at once.
        self.envelopes: Sequence[Envelope] = ()
        self._hooks: dict[Hashable, Callable[[], Awaitable[None]]] = {}
        self._after: dict[Hashable, Callable[[], None]] = {}

    def release(self) -> None:
        """Drop what the batch holds, once it is over (committed or rolled back).

        A batch's objects refer to each other (its hooks' closures, the repositories in `memo`), so it is freed
        only by a cyclic collection, and everything it held waited for one with it: every envelope of the batch
        (a model, its UUID, its payload's dicts and lists) and what the handlers kept in `memo`, ~10 objects an
        event that each young collection walked (and found garbage) instead of their being freed at once."""
        self.envelopes = ()
        self.memo.clear()
        self._hooks.clear()
        self._after.clear()
        if isinstance(self.inbox, BatchInbox):
            self.inbox.release()

    def after_commit(self, key: Hashable, callback: Callable[[], None]) -> None:
        """Run `callback` once the batch has committed (never if it rolls back; the last one for `key` wins):
        in-memory state that must only reflect what is durable (a cache of what was announced)."""
        self._after[key] = callback

    def run_after_commit(self) -> None:
        callbacks, self._after = self._after, {}
        for callback in callbacks.values():
            callback()

    def before_commit(self, key: Hashable, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` once just before the batch commits (the last registration for `key` wins)."""
        self._hooks[key] = hook

    def fail(self, exc: BaseException) -> None:
        """A joined unit of work ended badly: the batch must not commit."""
        if self.failed is None:
            self.failed = exc

    async def run_hooks(self) -> None:
        while self._hooks:  # a hook may register another
            hooks, self._hooks = self._hooks, {}
            for hook in hooks.values():
                await hook()


class BatchFailed(Exception):
    """A handler's unit of work failed inside the batch although the handler returned normally."""


def current_batch(factory: object | None = None) -> Batch | None:
    """The batch the current task's units of work (of `factory`'s store, if given) join, if any."""
    batch = _CURRENT.get()
    if batch is None or not batch.active or (factory is not None and batch.factory is not factory):
        return None
    return batch


class TransactionBatch:
    """`async with TransactionBatch(factory, inbox_consumer="session", relay=relay)(envelopes): ...`.

    `inbox_consumer` names the inbox consumer whose markers are inserted for the batch's events up
    front (one statement); handlers still call `uow.inbox.first_time(...)` as before.
    On SQLite, batches of one process take turns (one writer at a time anyway), instead of waiting
    on each other's write lock in the busy handler.
    """

    def __init__(
        self,
        session_factory: async_sessionmaker[AsyncSession],
        *,
        inbox_consumer: str | None = None,
        relay: OutboxRelay | None = None,
    ) -> None:
        self._factory = session_factory
        self._consumer = inbox_consumer
        self._relay = relay
        self._turns: asyncio.Lock | None = None

    @property
    def factory(self) -> async_sessionmaker[AsyncSession]:
        """The sessions its batches open (a scope around it may need one outside any batch)."""
        return self._factory

    def __call__(self, envelopes: Sequence[Envelope]) -> Any:
        return self._scope(envelopes)

    @asynccontextmanager
    async def _scope(self, envelopes: Sequence[Envelope]) -> AsyncIterator[Batch]:
        session = self._factory()
        try:
            if session.get_bind().dialect.name == "sqlite":
                self._turns = self._turns or asyncio.Lock()
                async with self._turns:
                    async with self._transaction(session, envelopes) as batch:
                        yield batch
            else:
                async with self._transaction(session, envelopes) as batch:
                    yield batch
        finally:
            await session.close()

    @asynccontextmanager
    async def _transaction(self, session: AsyncSession, envelopes: Sequence[Envelope]) -> AsyncIterator[Batch]:
        known = {e.event_id.int: e.event_id for e in envelopes}  # in order, each once
        fresh = await _insert_markers(session, self._consumer, known) if self._consumer and known else set()
        batch = Batch(
            self._factory, session, BatchInbox(session, self._consumer, fresh, known if self._consumer else {})
        )
        batch.envelopes = envelopes
        token = _CURRENT.set(batch)
        try:
            try:
                yield batch
                if batch.failed is not None:
                    raise BatchFailed(f"a unit of work in the batch failed: {batch.failed!r}") from batch.failed
                await batch.run_hooks()
                await _forget_unclaimed(session, self._consumer, batch.inbox)
                with BATCH_COMMIT_LATENCY.time():
                    await session.commit()
            finally:
                batch.active = False
                _CURRENT.reset(token)
            batch.run_after_commit()
            if batch.outbox.added and self._relay is not None:
                self._relay.wake()
        finally:
            batch.release()


def inbox_guard(
    session_factory: async_sessionmaker[AsyncSession], consumer: str, *, relay: OutboxRelay | None = None
) -> Callable[[Envelope], AbstractAsyncContextManager[bool]]:
    """The inbox check of a typed `voltline_bus.Dispatcher`: `async with guard(envelope) as first: ...`.

    Inside a consumer's batch (TransactionBatch of the same store) it claims the event's marker there; outside
    one it opens a batch of that one event. Either way the handler, run inside the block, joins the same
    transaction as the marker: both commit, or neither does (the event then comes again).
    """

    def guard(envelope: Envelope) -> AbstractAsyncContextManager[bool]:
        return _InboxGuard(session_factory, consumer, relay, envelope)

    return guard


class _InboxGuard(AbstractAsyncContextManager[bool]):
    """`inbox_guard`'s block as a plain class: entered once per consumed event, where a generator-based
    context manager cost several microseconds more (bench.pipeline.bus)."""

    __slots__ = ("_consumer", "_envelope", "_factory", "_own", "_relay")

    def __init__(
        self,
        factory: async_sessionmaker[AsyncSession],
        consumer: str,
        relay: OutboxRelay | None,
        envelope: Envelope,
    ) -> None:
        self._factory, self._consumer, self._relay, self._envelope = factory, consumer, relay, envelope
        self._own: AbstractAsyncContextManager[Batch] | None = None

    async def __aenter__(self) -> bool:
        batch = current_batch(self._factory)
        if batch is not None:
            inbox = batch.inbox
            if type(inbox) is BatchInbox:  # the common case, answered without awaiting a coroutine
                claimed = inbox.claim(self._consumer, self._envelope.event_id)
                if claimed is not None:
                    return claimed
            return await inbox.first_time(self._consumer, self._envelope.event_id)
        scope = TransactionBatch(self._factory, inbox_consumer=self._consumer, relay=self._relay)
        own: AbstractAsyncContextManager[Batch] = scope([self._envelope])
        opened = await own.__aenter__()
        self._own = own
        try:
            return await opened.inbox.first_time(self._consumer, self._envelope.event_id)
        except BaseException as exc:
            self._own = None
            if not await own.__aexit__(type(exc), exc, exc.__traceback__):
                raise
            return False  # unreachable in practice: the scope never swallows an exception

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> bool | None:
        own, self._own = self._own, None
        if own is not None:
            return await own.__aexit__(exc_type, exc, tb)
        return None


async def _forget_unclaimed(session: AsyncSession, consumer: str | None, inbox: Inbox) -> None:
    """Markers inserted up front for events no handler claimed go again: the consumer may have committed
    before handling them (a batch cut short), and they must not pass for handled when they come next."""
    unclaimed = sorted(inbox.unclaimed) if consumer and isinstance(inbox, BatchInbox) else []
    for start in range(0, len(unclaimed), _SQLITE_MAX_ROWS):
        ids = unclaimed[start : start + _SQLITE_MAX_ROWS]
        c = inbox_table.c
        await session.execute(sa.delete(inbox_table).where(c.consumer == consumer, c.event_id.in_(ids)))


# The markers of the batch's ids that were there already (a redelivery): usually none, so nothing comes back. Returning
# every inserted id instead cost the client a row, a UUID and a set entry per event (with SQLAlchemy's per-element
# UUID bind processing of the array, 2.4 µs an event against 1.4 µs now: bench.pipeline.bus). The data-modifying
# CTE always runs to completion; EXCEPT leaves the ids it did not insert.
_PG_MARKERS = (
    sa.text(
        "WITH ids AS (SELECT unnest(CAST(:ids AS UUID[])) AS event_id), "
        "ins AS (INSERT INTO inbox (consumer, event_id, processed_at) SELECT :consumer, event_id, :now FROM ids "
        "ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id) "
        "SELECT event_id FROM ids EXCEPT SELECT event_id FROM ins"
    )
    .bindparams(
        sa.bindparam("ids", type_=postgresql.ARRAY(sa.Uuid())),
        sa.bindparam("consumer", type_=sa.String()),
        sa.bindparam("now", type_=sa.DateTime(timezone=True)),
    )
    .columns(event_id=sa.Uuid())
)


# The same text whatever the batch's size; `WHERE true` keeps SQLite from reading ON CONFLICT as a join's ON.
# Event ids are stored as SQLAlchemy's Uuid stores them on SQLite (32 hex digits), `now` as UTCDateTime does.
_SQLITE_MARKERS = (
    sa.text(
        "INSERT INTO inbox (consumer, event_id, processed_at) SELECT :consumer, value, :now FROM json_each(:ids) "
        "WHERE true ON CONFLICT (consumer, event_id) DO NOTHING RETURNING event_id"
    )
    .bindparams(sa.bindparam("consumer", type_=sa.String()), sa.bindparam("now", type_=UTCDateTime()))
    .columns(event_id=sa.String())  # the hex digits as stored: mapped back to the batch's own UUID objects
)


async def _insert_markers(session: AsyncSession, consumer: str, ids: dict[int, UUID]) -> set[int]:
    """Insert the inbox markers of `ids` (the batch's event ids by `UUID.int`, each once); returns the keys of those
    that were not there yet.

    One statement whose text does not depend on the batch's size (a `.values([...])` of hundreds of rows was
    compiled anew for every batch, a fifth of a busy consumer's time)."""
    dialect = session.get_bind().dialect.name
    now = datetime.now(UTC)
    if dialect == "postgresql":
        # One array parameter: the same statement text whatever the batch's size, so asyncpg prepares it once
        # per connection; a VALUES list of as many rows as the batch was a new text (a prepare and a plan,
        # one more round trip) for every batch size, and under load batch sizes vary all the time.
        result = await session.execute(_PG_MARKERS, {"consumer": consumer, "ids": list(ids.values()), "now": now})
        fresh = set(ids)  # from the dict: its keys' hashes are reused
        fresh.difference_update(seen.int for seen in result.scalars())
        return fresh
    # SQLite: the same idea with a JSON array (json_each), so no row goes through SQLAlchemy's per-row bind
    # processing (a UUID and a UTCDateTime conversion for every marker, ~10% of the batch path's CPU).
    by_hex = {i.hex: key for key, i in ids.items()}
    result = await session.execute(_SQLITE_MARKERS, {"consumer": consumer, "ids": json.dumps(list(by_hex)), "now": now})
    return {by_hex[stored] for stored in result.scalars()}
