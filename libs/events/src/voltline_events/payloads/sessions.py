"""Charging sessions as the session service publishes them (through its outbox)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from voltline_events.registry import Event, event

PeriodState = Literal["charging", "suspended_ev", "suspended_evse", "idle"]


class SessionPeriod(BaseModel):
    """A stretch of the session in one state; billing prices time and idle fees from these."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    state: PeriodState
    start: datetime
    end: datetime
    energy_wh: int = Field(default=0, ge=0)


class EnergyReading(BaseModel):
    """Energy delivered since the session began, at one instant (from the station's register readings)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    at: datetime
    energy_wh: int = Field(ge=0)


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
    peak_power_w: float | None = None
    periods: list[SessionPeriod] = Field(default_factory=list, description="Charging/suspended/idle periods, in order.")
    energy_timeline: list[EnergyReading] = Field(
        default_factory=list, description="Cumulative energy over time, for splitting by time of day."
    )
