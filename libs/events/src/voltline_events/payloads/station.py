"""Events the gateway publishes about stations and what they sent."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from voltline_events.registry import Event, event

OcppVersion = Literal["ocpp1.6", "ocpp2.0.1", "ocpp2.1"]


@event
class StationConnected(Event):
    TYPE = "station.connected"
    VERSION = 1

    ocpp_version: OcppVersion
    gateway_instance: str
    remote_address: str | None = None


@event
class StationDisconnected(Event):
    TYPE = "station.disconnected"
    VERSION = 1

    gateway_instance: str
    reason: str
    close_code: int | None = None


@event
class BootNotification(Event):
    """A station booted; fields normalised across OCPP versions, the original kept in `raw`."""

    TYPE = "station.boot_notification"
    VERSION = 1

    ocpp_version: OcppVersion
    vendor: str = Field(max_length=50)
    model: str = Field(max_length=50)
    serial_number: str | None = None
    firmware_version: str | None = None
    reason: str | None = Field(default=None, description="2.0.1+ BootReason; absent in 1.6.")
    raw: dict[str, Any]


@event
class Heartbeat(Event):
    TYPE = "station.heartbeat"
    VERSION = 1

    ocpp_version: OcppVersion


@event
class StationMessage(Event):
    """Any other call a station sent, until it gets a typed event of its own."""

    TYPE = "station.message"
    VERSION = 1

    ocpp_version: OcppVersion
    action: str
    payload: dict[str, Any]
