"""Charging sessions as the session service publishes them (through its outbox)."""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from voltline_events.registry import Event, event


@event
class SessionStarted(Event):
    TYPE = "session.started"
    VERSION = 1

    session_id: str
    station_id: str
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    driver_id: str | None = None
    started_at: datetime
    meter_start_wh: int | None = None
    remote_start_id: int | None = None


@event
class SessionUpdated(Event):
    TYPE = "session.updated"
    VERSION = 1

    session_id: str
    station_id: str
    energy_wh: int = Field(ge=0)
    power_w: float | None = None
    soc_percent: float | None = None
    at: datetime


@event
class SessionEnded(Event):
    TYPE = "session.ended"
    VERSION = 1

    session_id: str
    station_id: str
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    driver_id: str | None = None
    started_at: datetime
    ended_at: datetime
    meter_start_wh: int | None = None
    meter_stop_wh: int | None = None
    energy_wh: int = Field(ge=0)
    stop_reason: str | None = None
