"""The unit of work: one transaction holding a service's state changes, the events they cause, and the
inbox markers of the events that caused them. Commit makes all of it durable at once.

Inside a consumer's batch (`voltline_store.batch`), a unit of work joins the batch's transaction
instead: `commit()` then only says "done", and the batch commits for all its events at once.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltline_store.batch import Batch, current_batch
from voltline_store.outbox import Inbox, Outbox
from voltline_store.relay import OutboxRelay


class UnitOfWork:
    """`async with UnitOfWork(factory, relay=relay) as uow: ...; await uow.commit()`.

    Leaving the block without `commit()` (or by an exception) rolls everything back. Services subclass
    it and override `attach_repositories` to put their repositories on `self`, bound to `self.session`.

    Joined to a batch (`self.batch` is set): leaving by an exception, or `rollback()`, fails the whole
    batch, which the consumer then handles again event by event; leaving without `commit()` after
    writing is not undone on its own, so handlers raise rather than return to discard their writes.
    """

    batch: Batch | None = None
    # A service's own "another transaction wrote this unique key first" exception: a unique-key violation
    # leaving the block is raised as it, so use cases speak of ports, not of SQLAlchemy's exceptions.
    duplicate_error: type[Exception] | None = None

    session: AsyncSession
    outbox: Outbox
    inbox: Inbox

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], *, relay: OutboxRelay | None = None) -> None:
        self._session_factory = session_factory
        self._relay = relay

    def attach_repositories(self) -> None:
        """Hook for subclasses: create repositories on `self.session`. Runs on entering the block."""

    async def __aenter__(self) -> Self:
        batch = current_batch(self._session_factory)
        if batch is not None:
            self.batch = batch
            self.session, self.outbox, self.inbox = batch.session, batch.outbox, batch.inbox
        else:
            self.batch = None
            self.session = self._session_factory()
            self.outbox = Outbox(self.session)
            self.inbox = Inbox(self.session)
        self.attach_repositories()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self.batch is not None:
            if exc is not None:
                self.batch.fail(exc)
        else:
            # close() rolls back whatever was not committed and returns the connection to the pool.
            await self.session.close()
        if self.duplicate_error is not None and isinstance(exc, IntegrityError):
            raise self.duplicate_error(str(exc.orig)) from exc

    async def commit(self) -> None:
        """Commit, then let the relay publish the new events at once instead of at its next poll."""
        if self.batch is not None:
            return  # the batch commits (and wakes the relay) once for all its events
        await self.session.commit()
        added, self.outbox.added = self.outbox.added, 0
        if added and self._relay is not None:
            self._relay.wake()

    async def rollback(self) -> None:
        if self.batch is not None:
            self.batch.fail(RuntimeError("a unit of work rolled back inside a batch"))
            return
        await self.session.rollback()
        self.outbox.added = 0
