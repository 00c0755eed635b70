"""May this id token charge? Asked by the gateway, answered by the auth service (request/reply)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

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
# What 1.6's AuthorizationStatus knows; the rest of 2.0.1's statuses become Invalid there.
OCPP16_STATUSES = frozenset({"Accepted", "Blocked", "Expired", "Invalid", "ConcurrentTx"})
# 1.6 idTags (and so parentIdTag) are CiString20.
OCPP16_ID_TAG_MAX = 20
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

    def id_tag_info(self) -> dict[str, Any]:
        """The decision as OCPP 1.6 idTagInfo (Authorize, StartTransaction and StopTransaction answers)."""
        info: dict[str, Any] = {"status": self.status if self.status in OCPP16_STATUSES else "Invalid"}
        if self.expiry_date is not None:
            info["expiryDate"] = _rfc3339(self.expiry_date)
        if self.group_id_token and len(self.group_id_token) <= OCPP16_ID_TAG_MAX:
            info["parentIdTag"] = self.group_id_token
        return info

    def id_token_info(self, group_type: str = "Central") -> dict[str, Any]:
        """The decision as OCPP 2.0.1 / 2.1 idTokenInfo; a group id travels as an IdToken of `group_type`."""
        info: dict[str, Any] = {"status": self.status}
        if self.expiry_date is not None:
            info["cacheExpiryDateTime"] = _rfc3339(self.expiry_date)
        if self.group_id_token:
            info["groupIdToken"] = {"idToken": self.group_id_token, "type": group_type}
        if self.language:
            info["language1"] = self.language
        return info


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
