"""One transaction over the auth database: repositories, outbox and inbox commit together."""

from __future__ import annotations

from voltline_store import UnitOfWork

from voltline_auth.adapters.access_repo import ApiKeyRepository, AuditRepository, DecisionRepository
from voltline_auth.adapters.accounts_repo import AccountRepository, SecretRepository, SigningKeyStore
from voltline_auth.adapters.lists_repo import LocalListRepository
from voltline_auth.adapters.stations_repo import StationRepository, SyncRepository
from voltline_auth.adapters.tokens_repo import ActiveSessionRepository, DriverRepository, TokenRepository
from voltline_auth.service_layer import account_ports, ports


class SqlAuthUnitOfWork(UnitOfWork):
    """The auth unit of work (service_layer.ports.AuthUnitOfWork) over SQLAlchemy and the store's outbox."""

    duplicate_error = ports.Duplicate

    stations: ports.StationRepository
    sync: ports.SyncRepository
    drivers: ports.DriverRepository
    tokens: ports.TokenRepository
    sessions: ports.ActiveSessionRepository
    lists: ports.LocalListRepository
    api_keys: ports.ApiKeyRepository
    audit: ports.AuditRepository
    decisions: ports.DecisionRepository
    accounts: account_ports.AccountRepository
    secrets: account_ports.SecretRepository
    signing_keys: account_ports.SigningKeyRepository

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
        self.accounts = AccountRepository(self.session)
        self.secrets = SecretRepository(self.session)
        self.signing_keys = SigningKeyStore(self.session)
