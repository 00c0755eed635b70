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


class _Session(BaseModel):
    """Which session, where, whose and since when: `SessionStarted`'s first fields, repeated by `SessionEnded`
    so that an end is whole without its start."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    session_id: str
    station_id: str
    evse_id: int | None = None
    connector_id: int | None = None
    id_token: str | None = None
    driver_id: str | None = None
    started_at: datetime


@event
class SessionStarted(Event, _Session):
    TYPE = "session.started"
    VERSION = 1

    meter_start_wh: int | None = None
    remote_start_id: int | None = None
    transaction_id: str | None = Field(default=None, description="2.x: the station's id; 1.6: the gateway's.")
    ocpp_version: str | None = None
    id_token_type: str | None = Field(default=None, description="OCPP 2.0.1 IdTokenType; 1.6 idTags are ISO14443.")
    reconciled: bool = Field(default=False, description="Created from an end whose start was never seen.")


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
    transaction_id: str | None = None
    charging_state: str | None = Field(
        default=None, description="charging, suspended_ev, suspended_evse, idle (plugged, not charging) or unplugged."
    )


@event
class SessionEnded(Event, _Session):
    TYPE = "session.ended"
    VERSION = 1

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
    transaction_id: str | None = None
    ocpp_version: str | None = None
    id_token_type: str | None = None
    remote_start_id: int | None = None
    soc_start_percent: float | None = None
    soc_end_percent: float | None = None
    reconciled: bool = Field(default=False, description="Created from an end whose start was never seen.")
    closed_by_operator: bool = Field(default=False, description="Ended by an operator, not by the station (yet).")
    ended_by: str | None = Field(
        default=None,
        description="Who ended it: 'station' (its own end message), 'operator:<name>', or 'voltline' (the CSMS's "
        "rules: StationRebooted, ConnectorReused, UnknownToStation, Unconfirmed; see docs/sessions.md).",
    )
    end_detail: str | None = Field(default=None, description="Why, in words, when not the station ended it.")
    anomalies: list[str] = Field(
        default_factory=list, description="What was odd about the station's data (meter_reset, ...); see docs."
    )
    revision: int = Field(
        default=1,
        ge=1,
        description="Late station data can change an ended session: it is published again with revision + 1, "
        "and the highest revision of a session_id supersedes the others.",
    )
