"""One transaction over the session store: repositories, outbox and inbox commit together."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Hashable
from datetime import timedelta
from typing import Any

from voltline_store import UnitOfWork, purge_inbox

from voltline_session.adapters.measurements import ChargingStateRepository, ReadingRepository
from voltline_session.adapters.repository import SessionRepository
from voltline_session.adapters.stations import RemoteStartRepository, StationRepository
from voltline_session.service_layer import ports

_REPOSITORIES = "session.repositories"


class SqlSessionUnitOfWork(UnitOfWork):
    """The session unit of work (service_layer.ports.SessionUnitOfWork) over SQLAlchemy and the store's outbox."""

    sessions: ports.SessionRepository
    readings: ports.ReadingRepository
    states: ports.ChargingStateRepository
    stations: ports.StationRepository
    remote_starts: ports.RemoteStartRepository

    def attach_repositories(self) -> None:
        # Inside a consumer batch every event's unit of work shares the batch's repositories (they keep no
        # state of their own beyond the batch's session): built once per batch, not once per event.
        memo = self.batch.memo if self.batch is not None else None
        repositories = memo.get(_REPOSITORIES) if memo is not None else None
        if repositories is None:
            repositories = (
                SessionRepository(self.session),
                ReadingRepository(self.session),
                ChargingStateRepository(self.session),
                StationRepository(self.session),
                RemoteStartRepository(self.session),
            )
            if memo is not None:
                memo[_REPOSITORIES] = repositories
        self.sessions, self.readings, self.states, self.stations, self.remote_starts = repositories

    @property
    def batch_memo(self) -> dict[Hashable, Any] | None:
        """Memory shared by the units of work of one consumer batch; None outside a batch."""
        return self.batch.memo if self.batch is not None else None

    def before_commit(self, key: Hashable, hook: Callable[[], Awaitable[None]]) -> None:
        """Run `hook` once before the batch commits (only inside a batch)."""
        assert self.batch is not None, "before_commit needs a consumer batch"
        self.batch.before_commit(key, hook)

    async def purge_inbox(self, older_than: timedelta) -> int:
        """Forget the inbox markers older than `older_than` (housekeeping, outside the use cases)."""
        return await purge_inbox(self.session, older_than)
