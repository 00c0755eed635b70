"""One transaction over the diagnostics database: repositories, outbox and inbox commit together."""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import event
from voltline_store import UnitOfWork

from voltline_diagnostics.adapters.alerts_repo import AlertRepository
from voltline_diagnostics.adapters.inventory_repo import InventoryRepository
from voltline_diagnostics.adapters.sessions_repo import SessionProgressRepository
from voltline_diagnostics.adapters.status_batch import BatchOutbox, StatusChangeEvents
from voltline_diagnostics.adapters.status_repo import StatusRepository
from voltline_diagnostics.adapters.uptime_repo import ExclusionRepository
from voltline_diagnostics.adapters.webhooks_repo import WebhookRepository
from voltline_diagnostics.service_layer import ports


class SqlDiagnosticsUnitOfWork(UnitOfWork):
    """The diagnostics unit of work (service_layer.ports.DiagnosticsUnitOfWork) over SQLAlchemy and the outbox."""

    status: ports.StatusRepository
    alerts: ports.AlertRepository
    webhooks: ports.WebhookRepository
    inventory: ports.InventoryRepository
    exclusions: ports.ExclusionRepository
    progress: ports.SessionProgressRepository

    def attach_repositories(self) -> None:
        self.status = StatusRepository(self.session)
        self.alerts = AlertRepository(self.session)
        self.webhooks = WebhookRepository(self.session)
        self.inventory = InventoryRepository(self.session)
        self.exclusions = ExclusionRepository(self.session)
        self.progress = SessionProgressRepository(self.session)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Once the session commits (a joined batch's session commits once, for all its events)."""
        event.listen(self.session.sync_session, "after_commit", lambda _session: callback(), once=True)

    def status_changes(self, source: str) -> ports.StatusChanges:
        """The consumer batch's grouping outbox when this unit of work joined one, else one event per change."""
        if isinstance(self.outbox, BatchOutbox):
            return self.outbox
        return StatusChangeEvents(self.outbox, source)
