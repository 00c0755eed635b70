"""Commands to stations: a service asks, the gateway holding the station's socket answers.

Request/reply over `Topics.station_commands` (keyed by station id) with the envelope's correlation_id
and reply_to; the gateway answers with a StationCommandResult.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from voltline_events.registry import Event, event

CommandOutcome = Literal["answered", "call_error", "offline", "timeout", "invalid"]


@event
class StationCommand(Event):
    TYPE = "station.command"
    VERSION = 1

    action: str = Field(description="OCPP action, e.g. RemoteStartTransaction or RequestStartTransaction.")
    payload: dict[str, Any]
    timeout_s: float = Field(default=30.0, gt=0, le=300)
    ocpp_version: str | None = Field(default=None, description="If set, refuse unless the station speaks it.")


@event
class StationCommandResult(Event):
    TYPE = "station.command_result"
    VERSION = 1

    outcome: CommandOutcome
    action: str
    ocpp_version: str | None = None
    payload: dict[str, Any] | None = Field(default=None, description="The station's CallResult payload.")
    error_code: str | None = None
    error_description: str | None = None
    gateway_instance: str | None = Field(default=None, description="The gateway instance that answered.")
