"""One transaction over the session store: repositories, outbox and inbox commit together."""

from __future__ import annotations

from voltline_store import UnitOfWork

from voltline_session.adapters.measurements import ChargingStateRepository, ReadingRepository
from voltline_session.adapters.repository import SessionRepository
from voltline_session.adapters.stations import RemoteStartRepository, StationRepository


class SessionUnitOfWork(UnitOfWork):
    sessions: SessionRepository
    readings: ReadingRepository
    states: ChargingStateRepository
    stations: StationRepository
    remote_starts: RemoteStartRepository

    def attach_repositories(self) -> None:
        self.sessions = SessionRepository(self.session)
        self.readings = ReadingRepository(self.session)
        self.states = ChargingStateRepository(self.session)
        self.stations = StationRepository(self.session)
        self.remote_starts = RemoteStartRepository(self.session)
