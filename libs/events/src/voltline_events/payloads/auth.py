"""Events and request/reply messages owned by the auth service."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field

from voltline_events.payloads.station import OcppVersion
from voltline_events.registry import Event, event

RegistrationStatus = Literal["Accepted", "Pending", "Rejected"]


@event
class BootDecisionRequested(Event):
    """The gateway asks whether a booting station may join."""

    TYPE = "auth.boot_decision.requested"
    VERSION = 1

    ocpp_version: OcppVersion
    vendor: str
    model: str
    serial_number: str | None = None


@event
class BootDecision(Event):
    """The auth service's answer to BootDecisionRequested."""

    TYPE = "auth.boot_decision"
    VERSION = 1

    status: RegistrationStatus
    interval: int = Field(ge=0, description="Heartbeat interval (Accepted) or retry delay (others), s.")
    reason: str | None = None


@event
class StationCredentialsRequested(Event):
    """The gateway asks for a station's current registry entry (a password it did not know: a rotation
    whose registry record is still on its way). Answered with a StationRegistered."""

    TYPE = "auth.station_credentials.requested"
    VERSION = 1


@event
class StationRegistered(Event):
    """The current registry entry of a station; the newest per key wins (compacted topic)."""

    TYPE = "auth.station_registered"
    VERSION = 1

    status: RegistrationStatus
    security_profile: int = Field(ge=0, le=3)
    deleted: bool = False
    password_hash: str | None = Field(
        default=None,
        description="Verifier of the Basic-auth password (profiles 1 and 2), never the password: "
        "`hmac-sha256$salt$mac`, or a bcrypt hash from before it.",
    )
    other_password_hashes: list[str] = Field(
        default_factory=list,
        max_length=2,
        description="Verifiers also accepted during a password rotation: the new one while the station is "
        "being told, the old one until the station has connected with the new one.",
    )
    certificate_fingerprint: str | None = Field(
        default=None, description="Profile 3: SHA-256 of the expected client certificate, if pinned."
    )


ApiKeyRole = Literal["admin", "operator", "viewer"]


@event
class ApiKeyRegistered(Event):
    """An operator API key as other services need it to check bearer tokens; the newest per key id wins.

    Carries the SHA-256 of a high-entropy key, never the key itself, so a reader of the topic cannot use it.
    """

    TYPE = "auth.api_key"
    VERSION = 1

    key_id: str = Field(max_length=64)
    name: str = Field(max_length=100)
    role: ApiKeyRole
    key_hash: str = Field(pattern=r"^[0-9a-f]{64}$", description="Hex SHA-256 of the bearer key.")
    expires_at: datetime | None = None
    revoked: bool = False
    signed_at: datetime | None = Field(default=None, description="When auth signed it; an older record never wins.")
    signature: str | None = Field(
        default=None,
        max_length=128,
        description="HMAC-SHA256 by the auth service over the fields above (voltline_chassis.api_keys); "
        "services ignore records without a valid one.",
    )


@event
class DriverSigningKey(Event):
    """A public key that signs drivers' access tokens; every service verifies those tokens with it locally.

    Published by auth on the API-keys topic (compacted, keyed `driver-key:<kid>`), next to the API keys that
    every service already follows: a service needs no call to auth per request, nor a new topic.
    """

    TYPE = "auth.driver_signing_key"
    VERSION = 1

    kid: str = Field(max_length=64, description="The key id named in the tokens' JOSE header.")
    algorithm: Literal["EdDSA"] = "EdDSA"
    public_key: str = Field(max_length=512, description="Ed25519 public key, PEM (SubjectPublicKeyInfo).")
    created_at: datetime
    retired: bool = Field(default=False, description="No longer accepted (tokens it signed are refused).")
    signed_at: datetime | None = None
    signature: str | None = Field(
        default=None,
        max_length=128,
        description="HMAC-SHA256 by the auth service over the fields above (voltline_chassis.driver_tokens); "
        "services ignore records without a valid one.",
    )
