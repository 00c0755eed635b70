"""One transaction over the auth store: repositories, outbox and inbox commit together."""

from __future__ import annotations

from typing import Self

from voltline_store import UnitOfWork

from voltline_auth.adapters.repository import StationRepository


class AuthUnitOfWork(UnitOfWork):
    stations: StationRepository

    async def __aenter__(self) -> Self:
        await super().__aenter__()
        self.stations = StationRepository(self.session)
        return self
