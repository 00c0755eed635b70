"""May this id token charge? Asked by the gateway, answered by the auth service (request/reply)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from voltline_events.payloads.station import OcppVersion
from voltline_events.payloads.transactions import IdToken
from voltline_events.registry import Event, event

# OCPP 2.0.1 AuthorizationStatusEnumType; the gateway maps it onto 1.6's smaller set.
AuthorizationStatus = Literal[
    "Accepted",
    "Blocked",
    "ConcurrentTx",
    "Expired",
    "Invalid",
    "NoCredit",
    "NotAllowedTypeEVSE",
    "NotAtThisLocation",
    "NotAtThisTime",
    "Unknown",
]
AuthorizationPurpose = Literal["authorize", "start_transaction", "transaction_event", "stop_transaction"]


@event
class AuthorizationRequested(Event):
    TYPE = "auth.authorization.requested"
    VERSION = 1

    ocpp_version: OcppVersion
    id_token: IdToken
    purpose: AuthorizationPurpose
    evse_id: int | None = None
    transaction_id: str | None = None


@event
class AuthorizationDecision(Event):
    """idTagInfo / idTokenInfo, version-neutral."""

    TYPE = "auth.authorization"
    VERSION = 1

    status: AuthorizationStatus
    expiry_date: datetime | None = None
    group_id_token: str | None = Field(default=None, description="1.6 parentIdTag / 2.x groupIdToken.idToken.")
    language: str | None = None
    driver_id: str | None = None
