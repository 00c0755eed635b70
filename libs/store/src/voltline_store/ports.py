"""The store's ports, shared by every service's use cases: outbox, inbox and the unit-of-work boilerplate.

Dependency-free on purpose (nothing from SQLAlchemy): a service's `service_layer/ports.py` extends
`UnitOfWork` with its repositories (`class AuthUnitOfWork(UnitOfWork, Protocol)`), the SQL units of work
(`voltline_store.UnitOfWork` subclasses) and the in-memory fakes of the tests satisfy it. Members are
read-only properties, so a plain attribute or a property both do.
"""

from __future__ import annotations

from types import TracebackType
from typing import Protocol, Self
from uuid import UUID

from voltline_events import Envelope


class Outbox(Protocol):
    """Events that are published once, and only if, the unit of work commits."""

    def add(self, topic: str, envelope: Envelope, key: bytes | None = None) -> None: ...


class Inbox(Protocol):
    """Event ids already handled by a consumer, so a redelivery changes nothing."""

    async def first_time(self, consumer: str, event_id: UUID) -> bool: ...


class UnitOfWork(Protocol):
    """One transaction over a service's store: its repositories, outbox and inbox commit together.

    `async with uow: ...; await uow.commit()`; leaving the block without commit() rolls everything back.
    """

    @property
    def outbox(self) -> Outbox: ...
    @property
    def inbox(self) -> Inbox: ...

    async def __aenter__(self) -> Self: ...
    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...
    async def commit(self) -> None: ...
    async def rollback(self) -> None: ...
