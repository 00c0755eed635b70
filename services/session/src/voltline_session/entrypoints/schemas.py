"""Request and response bodies of the session API."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from voltline_chassis.paging import Page

from voltline_session.domain.energy import TimelineEntry
from voltline_session.domain.meter import BASE_UNIT, Reading
from voltline_session.domain.periods import Period
from voltline_session.domain.session import Session, ended_by
from voltline_session.domain.stations import RemoteStart, StationState

StationIdStr = Annotated[str, Field(min_length=1, max_length=48, pattern=r"^[a-zA-Z0-9*\-_=:+|@.]+$")]
IdTokenType = Literal["ISO14443", "ISO15693", "KeyCode", "Central", "eMAID", "MacAddress", "Local", "NoAuthorization"]


def _wh(value: Any) -> str | None:
    return None if value is None else format(value.normalize(), "f")


class PeriodOut(BaseModel):
    state: str
    start: datetime
    end: datetime
    energy_wh: int

    @classmethod
    def of(cls, period: Period) -> PeriodOut:
        return cls(state=period.state, start=period.start, end=period.end, energy_wh=period.energy_wh)


class SessionOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "session_id": "CP-1:4711",
                    "station_id": "CP-1",
                    "transaction_id": "4711",
                    "ocpp_version": "1.6",
                    "evse_id": 1,
                    "connector_id": 1,
                    "id_token": "04A1B2C3",
                    "id_token_type": "ISO14443",
                    "driver_id": "drv_1",
                    "status": "completed",
                    "started_at": "2026-11-20T10:00:00Z",
                    "ended_at": "2026-11-20T11:00:00Z",
                    "meter_start_wh": 1000,
                    "meter_stop_wh": 13345,
                    "energy_wh": 12345,
                    "power_w": None,
                    "peak_power_w": 11000.0,
                    "soc_percent": None,
                    "charging_state": None,
                    "stop_reason": "EVDisconnected",
                    "ended_by": "station",
                    "end_detail": None,
                }
            ]
        }
    )

    session_id: str
    station_id: str
    transaction_id: str
    ocpp_version: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    id_token_type: str | None
    driver_id: str | None
    status: Literal["active", "completed"]
    started_at: datetime
    ended_at: datetime | None
    meter_start_wh: int | None = Field(description="The register value the energy is counted from.")
    meter_stop_wh: int | None = Field(description="The last register value that counted.")
    energy_wh: int
    power_w: float | None
    peak_power_w: float | None
    soc_percent: float | None
    charging_state: str | None
    stop_reason: str | None
    ended_by: str | None = Field(
        default=None, description="station, operator:<name>, or voltline (its ending rules; see stop_reason)."
    )
    end_detail: str | None = Field(default=None, description="Why voltline or an operator ended it.")
    remote_start_id: int | None
    reconciled: bool
    suspect: bool
    suspect_since: datetime | None
    doubt: str | None = Field(
        default=None, description="rebooted | silent: being confirmed with the station, ended unless it speaks of it."
    )
    offline: bool
    anomalies: list[str]
    revision: int = Field(description="How often session.ended was published for it (late data revises it).")
    last_event_at: datetime
    periods: list[PeriodOut] | None = None

    @classmethod
    def of(cls, s: Session, periods: list[Period] | None = None) -> SessionOut:
        data = {name: getattr(s, name) for name in cls.model_fields if name not in _DERIVED}
        data.update(
            anomalies=list(s.anomalies),
            ended_by=None if s.active else ended_by(s),
            end_detail=None if s.active or s.end_seen else s.close_reason,
        )
        return cls(**data, periods=[PeriodOut.of(p) for p in periods] if periods is not None else None)


_DERIVED = frozenset({"periods", "ended_by", "end_detail"})


class SessionList(Page[SessionOut]):
    """A page of sessions, newest first (the paging convention of every list: README.md)."""


class LiveSession(BaseModel):
    session_id: str
    station_id: str
    evse_id: int | None
    connector_id: int | None
    id_token: str | None
    driver_id: str | None
    started_at: datetime
    energy_wh: int = Field(description="Energy so far.")
    power_w: float | None = Field(description="Power now: the last Power.Active.Import, else from the register.")
    soc_percent: float | None
    charging_state: str | None
    last_reading_at: datetime | None
    suspect: bool

    @classmethod
    def of(cls, s: Session) -> LiveSession:
        return cls(**{name: getattr(s, name) for name in cls.model_fields})


class LiveList(Page[LiveSession]):
    """A page of active sessions, newest first."""


class MeterValueOut(BaseModel):
    at: datetime
    measurand: str
    value: str = Field(description="Exact decimal, in `unit`.")
    unit: str
    context: str | None = None
    energy_wh: str | None = Field(default=None, description="Energy: session energy at this reading, if it counted.")
    source: str = Field(default="reading", description="reading, or meter_start / meter_stop (1.6 fields).")
    note: str | None = Field(default=None, description="Why a register value was treated specially.")

    @classmethod
    def of_reading(cls, r: Reading) -> MeterValueOut:
        return cls(at=r.at, measurand=r.measurand, value=_wh(r.value) or "0", unit=r.unit, context=r.context)

    @classmethod
    def of_entry(cls, e: TimelineEntry, context: str | None) -> MeterValueOut:
        return cls(
            at=e.at,
            measurand="Energy.Active.Import.Register",
            value=_wh(e.register_wh) or "0",
            unit=BASE_UNIT["Energy.Active.Import.Register"],
            context=context,
            energy_wh=_wh(e.energy_wh),
            source=e.source,
            note=e.note,
        )


class MeterValueList(BaseModel):
    session_id: str
    energy_wh: int
    items: list[MeterValueOut]


class RemoteStartIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    station_id: StationIdStr
    id_token: str = Field(min_length=1, max_length=36)
    id_token_type: IdTokenType = Field(
        default="Central", description="2.x IdTokenType (an app token from the auth service is Central); 1.6: unused."
    )
    evse_id: int | None = Field(default=None, ge=1)
    connector_id: int | None = Field(default=None, ge=1)
    charging_profile: dict[str, Any] | None = Field(default=None, description="Passed to the station as sent.")


class CommandOut(BaseModel):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "station_id": "CP-1",
                    "status": "Accepted",
                    "message": "The station accepted the remote start.",
                    "station_response": {"status": "Accepted"},
                    "remote_start_id": 17,
                    "session_id": None,
                }
            ]
        }
    )

    station_id: str
    status: str | None = Field(description="The station's answer, e.g. Accepted.")
    message: str
    station_response: dict[str, Any] | None
    remote_start_id: int | None = None
    session_id: str | None = None
    session_ended_reason: str | None = Field(
        default=None, description="Set when the station's answer made voltline end the session (UnknownToStation)."
    )


class RemoteStartOut(BaseModel):
    remote_start_id: int
    station_id: str
    id_token: str
    evse_id: int | None
    connector_id: int | None
    driver_id: str | None
    status: str
    message: str | None
    station_response: dict[str, Any] | None
    session_id: str | None
    requested_at: datetime
    answered_at: datetime | None

    @classmethod
    def of(cls, r: RemoteStart) -> RemoteStartOut:
        return cls(**{name: getattr(r, name) for name in cls.model_fields})


class CloseIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str | None = Field(default=None, max_length=255)


class StationPresenceOut(BaseModel):
    station_id: str
    ocpp_version: str | None
    connected: bool = Field(description="As of the last connect/disconnect the gateway reported.")
    presence_at: datetime | None
    last_seen_at: datetime = Field(
        description="When the station last sent anything (a silent one makes sessions suspect)."
    )

    @classmethod
    def of(cls, station: StationState) -> StationPresenceOut:
        return cls(**{name: getattr(station, name) for name in cls.model_fields})
