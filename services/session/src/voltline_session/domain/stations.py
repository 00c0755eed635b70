"""What the session service remembers about stations and the remote starts it sent them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class StationState:
    station_id: str
    ocpp_version: str | None
    connected: bool
    presence_at: datetime | None
    last_seen_at: datetime


@dataclass(frozen=True)
class RemoteStart:
    remote_start_id: int
    station_id: str
    id_token: str
    id_token_type: str
    evse_id: int | None
    connector_id: int | None
    driver_id: str | None
    status: str  # sent | accepted | rejected | failed
    message: str | None
    station_response: dict[str, Any] | None
    session_id: str | None
    requested_by: str | None
    requested_at: datetime
    answered_at: datetime | None
