"""Events the gateway publishes about stations and what they sent."""

from __future__ import annotations

from datetime import datetime
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
    cause: str | None = Field(
        default=None,
        description="Why, in one word: closed_by_station, ping_timeout, replaced, rate_limited, protocol_error, "
        "frame_too_big, unauthenticated, shutdown or error.",
    )


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


@event
class StationPresence(Event):
    """Which gateway instance holds a station's socket (Topics.gateway_presence, compacted, keyed by station id).

    Several gateways can run behind a load balancer: the one named here executes the station's commands; when
    `connected` is false, it answers them `offline`. A gateway that holds the station and reads a record naming
    another instance publishes its own again, so the newest truth wins even after compaction.
    """

    TYPE = "gateway.station_presence"
    VERSION = 1

    gateway_instance: str
    connected: bool
    ocpp_version: OcppVersion | None = None
    remote_address: str | None = None
    since: datetime = Field(description="When this connection (or disconnection) began, UTC.")


@event
class GatewayAlive(Event):
    """A gateway instance's liveness beat, on Topics.gateway_presence under the key `#gateway/<instance>`.

    '#' and '/' cannot occur in station ids, so these keys never collide with a station's presence record.
    An instance is alive while its newest beat is younger than three intervals and not `stopping`.
    """

    TYPE = "gateway.alive"
    VERSION = 1

    gateway_instance: str
    interval_s: float = Field(gt=0)
    stopping: bool = False


def gateway_alive_key(instance: str) -> bytes:
    return f"#gateway/{instance}".encode()
