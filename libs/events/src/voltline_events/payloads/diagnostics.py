"""Events the diagnostics service publishes (Topics.diagnostics, keyed by station id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from voltline_events.registry import Event, event

Severity = Literal["info", "warning", "major", "critical"]
NormalisedStatus = Literal["Available", "Occupied", "Reserved", "Unavailable", "Faulted", "Unknown"]


class _Alert(BaseModel):
    """An alert as it opened: `AlertOpened`'s first fields, repeated by `AlertResolved` so that a resolution is
    whole without its opening."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    alert_id: str
    rule: str
    severity: Severity
    evse_id: int | None = None
    connector_id: int | None = None
    opened_at: datetime


@event
class AlertOpened(Event, _Alert):
    """A rule's condition began for a target (station, or one EVSE/connector of it); one open alert per both."""

    TYPE = "diagnostics.alert_opened"
    VERSION = 1

    # `_Alert.rule` (in its place), with the description this schema has always had and AlertResolved's has not.
    rule: str = Field(description="connector_faulted, station_offline, station_unresponsive, boot_loop, ...")
    detail: dict[str, Any] = Field(default_factory=dict)


@event
class AlertResolved(Event, _Alert):
    """The condition cleared (`by` absent), or an operator resolved the alert by hand (`by`, `note`)."""

    TYPE = "diagnostics.alert_resolved"
    VERSION = 1

    resolved_at: datetime
    by: str | None = None
    note: str | None = None


class _ConnectorStatus(BaseModel):
    """A connector's status change: `ConnectorStatusChanged`'s fields, and each change's of a
    `ConnectorStatusesChanged` (after its station)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    evse_id: int
    connector_id: int
    status: NormalisedStatus
    ocpp_status: str | None = None
    error_code: str | None = None
    since: datetime


class _OfStation(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    station_id: str


@event
class ConnectorStatusChanged(Event, _ConnectorStatus):
    """A connector's normalised status changed (station offline: `Unknown`, the last report kept in ocpp_status)."""

    TYPE = "diagnostics.connector_status_changed"
    VERSION = 1


class ConnectorStatusChange(_ConnectorStatus, _OfStation):  # the fields of the last base first: station_id
    """One connector's change in a `ConnectorStatusesChanged`: a `ConnectorStatusChanged` and its station."""


@event
class ConnectorStatusesChanged(Event):
    """Connector status changes committed together, in the order they happened: what one consumer batch of the
    diagnostics service changed between two of its other events, for stations whose events share a partition of
    the topic (keyed by the first change's station; so each station's events stay in order). One event instead
    of one `ConnectorStatusChanged` each: at thousands of changes a second, a record per change was the largest
    cost of the service's outbox and relay. The live stream (`GET /api/v1/stream`) shows each change as a
    `diagnostics.connector_status_changed`."""

    TYPE = "diagnostics.connector_statuses_changed"
    VERSION = 1

    changes: list[ConnectorStatusChange] = Field(min_length=1)


@event
class StationHealthChanged(Event):
    """A station went online, offline or unresponsive (or back)."""

    TYPE = "diagnostics.station_health_changed"
    VERSION = 1

    health: Literal["online", "offline", "unresponsive"]
    since: datetime


@event
class UptimeExclusionDeclared(Event):
    """An operator declared time that does not count against uptime (NEVI 680.116(b): planned maintenance, grid
    outages, vandalism, ...), for a whole station (`evse_id` absent) or one EVSE/connector."""

    TYPE = "diagnostics.uptime_exclusion_declared"
    VERSION = 1

    exclusion_id: str
    evse_id: int | None = None
    connector_id: int | None = None
    starts_at: datetime
    ends_at: datetime
    reason: str = Field(description="planned_maintenance, grid_outage, vandalism, natural_disaster, ...")
    declared_at: datetime
