"""The in-memory half of every service's unit-of-work fake: a transaction over plain Python data.

A service's fake unit of work (in its tests) subclasses `FakeUnitOfWork` and builds its fake repositories
over the dict of tables it is given. Like the SQL one, it is all-or-nothing: the repositories work on a
copy of the store's tables, `commit()` makes the copy the store's state and publishes the outbox; leaving
the block without a commit (or by an exception) leaves the store as it was and publishes nothing.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import TracebackType
from typing import Any, NamedTuple, Self
from uuid import UUID


class Published(NamedTuple):
    """One event a committed transaction put on the bus."""

    topic: str
    envelope: Any
    key: bytes | None


@dataclass
class FakeStore:
    """What a service's database holds, as tables of plain data, plus what its outbox published."""

    tables: dict[str, Any]
    published: list[Published] = field(default_factory=list)
    commits: int = 0

    def envelopes(self, topic: str | None = None) -> list[Any]:
        """The envelopes published (to `topic`, if given), in order."""
        return [p.envelope for p in self.published if topic is None or p.topic == topic]


class FakeOutbox:
    def __init__(self) -> None:
        self.pending: list[Published] = []

    def add(self, topic: str, envelope: Any, key: bytes | None = None) -> None:
        self.pending.append(Published(topic, envelope, key))


class FakeInbox:
    def __init__(self, seen: set[tuple[str, UUID]]) -> None:
        self._seen = seen

    async def first_time(self, consumer: str, event_id: UUID) -> bool:
        if (consumer, event_id) in self._seen:
            return False
        self._seen.add((consumer, event_id))
        return True


class FakeUnitOfWork:
    """`async with uow: ...; await uow.commit()` over a `FakeStore`; subclasses attach their repositories."""

    def __init__(self, store: FakeStore) -> None:
        self.store = store
        self.committed = False
        self.tables: dict[str, Any] = {}

    def attach_repositories(self, tables: dict[str, Any]) -> None:
        """Hook for subclasses: create the fake repositories over `tables` (this transaction's copy)."""

    def _begin(self) -> None:
        self.tables = copy.deepcopy(self.store.tables)
        self.tables.setdefault("_inbox", set())
        self.outbox = FakeOutbox()
        self.inbox = FakeInbox(self.tables["_inbox"])
        self.attach_repositories(self.tables)

    async def __aenter__(self) -> Self:
        self._begin()
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.outbox.pending = []  # whatever was not committed is gone with this copy of the tables

    async def commit(self) -> None:
        self.store.tables = copy.deepcopy(self.tables)
        self.store.published += self.outbox.pending
        self.store.commits += 1
        self.committed = True
        self.outbox.pending = []

    async def rollback(self) -> None:
        self._begin()


@dataclass
class FakeClock:
    """A clock the use cases read (`ctx.clock()`) and the test moves (`advance`)."""

    now: datetime

    def __call__(self) -> datetime:
        return self.now

    def advance(self, by: timedelta) -> None:
        self.now += by
