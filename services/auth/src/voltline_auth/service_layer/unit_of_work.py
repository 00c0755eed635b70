"""One transaction over the auth store: repositories, outbox and inbox commit together."""

from __future__ import annotations

from voltline_store import UnitOfWork

from voltline_auth.adapters.access_repo import ApiKeyRepository, AuditRepository, DecisionRepository
from voltline_auth.adapters.lists_repo import LocalListRepository
from voltline_auth.adapters.stations_repo import StationRepository, SyncRepository
from voltline_auth.adapters.tokens_repo import ActiveSessionRepository, DriverRepository, TokenRepository


class AuthUnitOfWork(UnitOfWork):
    stations: StationRepository
    sync: SyncRepository
    drivers: DriverRepository
    tokens: TokenRepository
    sessions: ActiveSessionRepository
    lists: LocalListRepository
    api_keys: ApiKeyRepository
    audit: AuditRepository
    decisions: DecisionRepository

    def attach_repositories(self) -> None:
        self.stations = StationRepository(self.session)
        self.sync = SyncRepository(self.session)
        self.drivers = DriverRepository(self.session)
        self.tokens = TokenRepository(self.session)
        self.sessions = ActiveSessionRepository(self.session)
        self.lists = LocalListRepository(self.session)
        self.api_keys = ApiKeyRepository(self.session)
        self.audit = AuditRepository(self.session)
        self.decisions = DecisionRepository(self.session)
