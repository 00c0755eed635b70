"""The station registry's rules: what a booting station is told, and what a registration may hold."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

RegistrationStatus = Literal["Accepted", "Pending", "Rejected"]


class UnknownStationPolicy(StrEnum):
    """What happens when a station we never registered boots."""

    REJECT = "reject"
    PENDING = "pending"  # registered as Pending for an operator to approve


class InvalidStation(ValueError):
    """A registration that breaks a rule; the message names the field."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Station:
    station_id: str
    security_profile: int
    status: RegistrationStatus
    password_hash: str | None
    created_at: datetime
    updated_at: datetime
    certificate_fingerprint: str | None = None  # profile 3: SHA-256 of the expected client certificate
    pending_password_hash: str | None = None  # a rotation in flight: the station is being told this one
    previous_password_hash: str | None = None  # after a rotation: valid until the station connected again

    @property
    def other_password_hashes(self) -> list[str]:
        """Verifiers the gateways accept besides the current one."""
        return [h for h in (self.pending_password_hash, self.previous_password_hash) if h]


@dataclass(frozen=True)
class BootAnswer:
    status: RegistrationStatus
    interval: int
    reason: str


@dataclass(frozen=True)
class BootPolicy:
    unknown_stations: UnknownStationPolicy
    heartbeat_interval: int
    retry_interval: int


def check_security_profile(security_profile: int, has_password: bool) -> None:
    """Profiles 1 and 2 authenticate with a password, 3 with a client certificate, 0 not at all."""
    if security_profile not in (0, 1, 2, 3):
        raise InvalidStation("security_profile", "security_profile must be 0, 1, 2 or 3")
    if security_profile in (1, 2) and not has_password:
        raise InvalidStation("password", f"security profile {security_profile} needs a password (HTTP Basic auth)")
    if security_profile in (0, 3) and has_password:
        raise InvalidStation("password", f"security profile {security_profile} does not use a password")


_FINGERPRINT = re.compile(r"^[0-9a-f]{64}$")


def normalise_fingerprint(fingerprint: str) -> str:
    """Accept `AB:CD:...` as openssl prints it, or plain hex; keep lower-case hex."""
    value = fingerprint.replace(":", "").strip().lower()
    if not _FINGERPRINT.match(value):
        raise InvalidStation("certificate_fingerprint", "certificate_fingerprint must be a SHA-256 (64 hex digits)")
    return value


def check_certificate(security_profile: int, fingerprint: str | None) -> None:
    if fingerprint is not None and security_profile != 3:
        raise InvalidStation("certificate_fingerprint", "only security profile 3 authenticates by client certificate")


_PASSWORD = re.compile(r"^[\x21-\x7e]{16,40}$")


def check_password(password: str) -> None:
    """OCPP 1.6 security whitepaper and 2.0.1 BasicAuthPassword: 16 to 40 characters; printable ASCII, since
    stations send it in an HTTP header and 2.0.1 types it as passwordString."""
    if not 16 <= len(password) <= 40:
        raise InvalidStation("password", "password must be 16 to 40 characters long (OCPP BasicAuthPassword)")
    if not _PASSWORD.match(password):
        raise InvalidStation("password", "password must be printable ASCII without spaces (OCPP passwordString)")


def decide_boot(station: Station | None, policy: BootPolicy) -> BootAnswer:
    """The answer to a BootNotification, from the registry entry (None: never registered)."""
    if station is None:
        if policy.unknown_stations is UnknownStationPolicy.PENDING:
            return BootAnswer("Pending", policy.retry_interval, "unknown station, awaiting an operator's approval")
        return BootAnswer("Rejected", policy.retry_interval, "unknown station")
    if station.status == "Accepted":
        return BootAnswer("Accepted", policy.heartbeat_interval, "registered")
    if station.status == "Pending":
        return BootAnswer("Pending", policy.retry_interval, "awaiting an operator's approval")
    return BootAnswer("Rejected", policy.retry_interval, "registration rejected by an operator")
