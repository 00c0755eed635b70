"""What the gateway answered a station, published after the answer (the station's own call is published
before the decision is known, so it cannot carry it). Diagnostics shows the boot status and heartbeat
interval from these, and counts authorisations that never became a transaction."""

from __future__ import annotations

from pydantic import Field

from voltline_events.payloads.auth import RegistrationStatus
from voltline_events.payloads.authorization import AuthorizationStatus
from voltline_events.payloads.station import OcppVersion
from voltline_events.payloads.transactions import IdToken
from voltline_events.registry import Event, event


@event
class BootAnswered(Event):
    """The BootNotification answer the station was given."""

    TYPE = "station.boot_answered"
    VERSION = 1

    ocpp_version: OcppVersion
    status: RegistrationStatus
    interval: int = Field(ge=0, description="Heartbeat interval when Accepted, else the retry delay, s.")
    fallback: bool = Field(default=False, description="The auth service did not answer in time: the policy's answer.")


@event
class AuthorizeAnswered(Event):
    """The Authorize answer the station was given (the id token is repeated only when the gateway answered
    alone, from the auth service's published decisions: auth records those in its decision log)."""

    TYPE = "station.authorize_answered"
    VERSION = 1

    ocpp_version: OcppVersion
    status: AuthorizationStatus
    local: bool = Field(
        default=False, description="Answered by the gateway from auth.token_decisions, not asked (ADR 0015)."
    )
    id_token: IdToken | None = Field(default=None, description="The presented token, when `local`.")
