"""The unit of work: one transaction holding a service's state changes, the events they cause, and the
inbox markers of the events that caused them. Commit makes all of it durable at once.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from voltline_store.outbox import Inbox, Outbox
from voltline_store.relay import OutboxRelay


class UnitOfWork:
    """`async with UnitOfWork(factory, relay=relay) as uow: ...; await uow.commit()`.

    Leaving the block without `commit()` (or by an exception) rolls everything back. Services subclass
    it and override `attach_repositories` to put their repositories on `self`, bound to `self.session`.
    """

    session: AsyncSession
    outbox: Outbox
    inbox: Inbox

    def __init__(self, session_factory: async_sessionmaker[AsyncSession], *, relay: OutboxRelay | None = None) -> None:
        self._session_factory = session_factory
        self._relay = relay

    def attach_repositories(self) -> None:
        """Hook for subclasses: create repositories on `self.session`. Runs on entering the block."""

    async def __aenter__(self) -> Self:
        self.session = self._session_factory()
        self.outbox = Outbox(self.session)
        self.inbox = Inbox(self.session)
        self.attach_repositories()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        # close() rolls back whatever was not committed and returns the connection to the pool.
        await self.session.close()

    async def commit(self) -> None:
        """Commit, then let the relay publish the new events at once instead of at its next poll."""
        await self.session.commit()
        added, self.outbox.added = self.outbox.added, 0
        if added and self._relay is not None:
            self._relay.wake()

    async def rollback(self) -> None:
        await self.session.rollback()
        self.outbox.added = 0
