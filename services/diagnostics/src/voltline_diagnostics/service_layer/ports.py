"""What the diagnostics use cases need from the store: repository and unit-of-work interfaces.

The use cases depend on these, never on SQLAlchemy: `adapters/unit_of_work.py` implements them over the
database (wired in `bootstrap.py`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from voltline_store.ports import UnitOfWork

from voltline_diagnostics.domain.alerts import Alert, Target


@dataclass
class StationRow:
    station_id: str
    online: bool
    since: datetime
    last_seen_at: datetime
    ocpp_version: str | None = None
    heartbeat_interval_s: int | None = None
    unresponsive: bool = False
    unresponsive_since: datetime | None = None
    last_boot_at: datetime | None = None
    boot_reason: str | None = None
    vendor: str | None = None
    model: str | None = None
    serial_number: str | None = None
    firmware_version: str | None = None
    modem: dict[str, Any] | None = None
    meter: dict[str, Any] | None = None
    report_requested_at: datetime | None = None
    boot_status: str | None = None  # Accepted, Pending, Rejected: what the station was answered at its last boot
    authorized_at: datetime | None = None  # an accepted Authorize not followed by a transaction yet
    unused_authorizations: int = 0  # accepted authorisations in a row that never became a transaction
    presence_at: datetime | None = None  # the newest connect or disconnect applied (or the first message's time)
    boot_answered_at: datetime | None = None  # the boot answer that set `boot_status` (domain/registration.py)
    heartbeat_interval_at: datetime | None = None  # the Accepted boot answer that set `heartbeat_interval_s`


@dataclass
class ConnectorRow:
    station_id: str
    evse_id: int
    connector_id: int
    ocpp_status: str
    status: str
    since: datetime
    reported_at: datetime
    error_code: str | None = None
    vendor_error_code: str | None = None
    info: str | None = None
    short_sessions: int = 0


@dataclass(frozen=True)
class Answer:
    """A station's answer to an inventory question (GetBaseReport, TriggerMessage...)."""

    outcome: str
    payload: dict[str, Any] | None = None
    error: str | None = None


class StatusRepository(Protocol):
    async def station(self, station_id: str) -> StationRow | None: ...
    async def save_station(self, station: StationRow, now: datetime, *, new: bool) -> None: ...
    async def mark_report_requested(self, station_id: str, now: datetime) -> None: ...
    async def connectors_of(self, station_id: str) -> list[ConnectorRow]: ...
    async def connector(self, station_id: str, evse_id: int, connector_id: int) -> ConnectorRow | None: ...
    async def save_connector(self, c: ConnectorRow, *, new: bool) -> None: ...
    async def open_status_interval(self, c: ConnectorRow, at: datetime, *, opened: datetime | None) -> None:
        """Close the port's current interval (begun at `opened`, the port's `since`; None: a new port) at `at`
        and open one with its new status."""
        ...

    async def authorized_before(self, cutoff: datetime) -> list[str]:
        """Stations with an accepted authorisation older than `cutoff` that no transaction followed yet."""
        ...

    async def open_presence_interval(self, station_id: str, online: bool, at: datetime) -> None: ...
    async def status_history(
        self,
        station_id: str,
        start: datetime,
        end: datetime,
        evse_id: int | None = None,
        connector_id: int | None = None,
    ) -> list[dict[str, Any]]:
        """Intervals overlapping [start, end), oldest first; the open one has ended_at None."""
        ...

    async def presence_history(self, station_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]: ...
    async def add_boot(self, station_id: str, at: datetime, reason: str | None) -> None: ...
    async def boots_since(self, station_id: str, since: datetime) -> list[datetime]: ...
    async def touch_many(self, times: dict[str, datetime], now: datetime) -> dict[str, datetime]:
        """`last_seen_at` moved to each station's time (never back); those unresponsive, with since when."""
        ...

    async def mark_unresponsive(self, cutoff_for: dict[str, datetime], now: datetime) -> list[str]:
        """Stations (among those given, each with its own cutoff) still online and unheard since; marked now."""
        ...

    async def online_heard_before(self, cutoff: datetime) -> list[tuple[str, datetime, int | None]]: ...
    async def offline_since_before(self, cutoff: datetime) -> list[tuple[str, datetime]]:
        """Offline since before `cutoff` and without an open station_offline alert yet."""
        ...

    async def never_inventoried(self, booted_before: datetime, limit: int = 100) -> list[str]: ...
    async def health_counts(self) -> dict[str, int]: ...


class AlertRepository(Protocol):
    async def open_for(self, rule: str, target: Target) -> Alert | None: ...
    async def open_of_station(self, station_id: str, rules: tuple[str, ...]) -> list[Alert]: ...
    async def open_of_rule(self, rule: str) -> list[Alert]: ...
    async def get(self, alert_id: str) -> Alert | None: ...
    async def add(self, alert: Alert) -> None: ...
    async def save(self, alert: Alert) -> None: ...
    async def open_counts(self) -> dict[tuple[str, str], int]: ...


class WebhookRepository(Protocol):
    async def add(self, **values: Any) -> None: ...
    async def get(self, webhook_id: str) -> dict[str, Any] | None: ...
    async def all(self, *, active_only: bool = False) -> list[dict[str, Any]]: ...
    async def deactivate(self, webhook_id: str) -> bool: ...
    async def enqueue(self, **values: Any) -> None: ...
    async def due(self, now: datetime, limit: int) -> list[dict[str, Any]]: ...
    async def claim(self, delivery_id: str, seen_next: datetime, lease_until: datetime) -> bool:
        """Take a due delivery for one attempt (another instance that read it too loses the race)."""
        ...

    async def record(self, delivery_id: str, **values: Any) -> None: ...
    async def log(self, webhook_id: str, limit: int = 200) -> list[dict[str, Any]]: ...


class InventoryRepository(Protocol):
    async def put_variables(self, station_id: str, items: list[dict[str, Any]], now: datetime) -> None:
        """Upsert by (station, key): delete-then-insert, portable across PostgreSQL and SQLite."""
        ...

    async def variables(self, station_id: str, component: str | None = None) -> list[dict[str, Any]]: ...
    async def stations(
        self,
        *,
        station_id: str | None = None,
        model: str | None = None,
        vendor: str | None = None,
        firmware_version: str | None = None,
        online: bool | None = None,
        limit: int = 10_000,
    ) -> list[dict[str, Any]]: ...
    async def counts(self, by: str) -> list[tuple[Any, ...]]:
        """Stations per (vendor, model) or per (vendor, model, firmware_version)."""
        ...


class ExclusionRepository(Protocol):
    async def add(self, **values: Any) -> None: ...
    async def overlapping(self, station_id: str | None, start: datetime, end: datetime) -> list[dict[str, Any]]: ...


class SessionProgressRepository(Protocol):
    async def get(self, session_id: str) -> dict[str, Any] | None: ...
    async def add(self, **values: Any) -> None: ...
    async def save(self, session_id: str, **values: Any) -> None: ...
    async def remove(self, session_id: str) -> None: ...
    async def charging_without_progress_since(self, cutoff: datetime) -> list[dict[str, Any]]: ...


class StatusChanges(Protocol):
    """Where a unit of work's connector status changes go (`ConnectorStatusChange`'s fields, JSON-ready): inside
    a consumer batch into its partition's grouped `ConnectorStatusesChanged` (adapters/status_batch.py), alone as
    one event each."""

    def add_status_change(self, topic: str, station_id: str, change: dict[str, Any]) -> None: ...


class DiagnosticsUnitOfWork(UnitOfWork, Protocol):
    """One transaction over the diagnostics store: repositories, outbox and inbox commit together."""

    @property
    def status(self) -> StatusRepository: ...
    @property
    def alerts(self) -> AlertRepository: ...
    @property
    def webhooks(self) -> WebhookRepository: ...
    @property
    def inventory(self) -> InventoryRepository: ...
    @property
    def exclusions(self) -> ExclusionRepository: ...
    @property
    def progress(self) -> SessionProgressRepository: ...
    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this transaction (or the consumer batch it joined) has committed."""
        ...

    def status_changes(self, source: str) -> StatusChanges:
        """Where this transaction's status changes go; `source`: of the events a change gets alone."""
        ...
