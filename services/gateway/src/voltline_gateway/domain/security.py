"""Who may open a station's WebSocket: OCPP security profiles 0-3, decided from the registry entry.

Profile 0: no authentication (test benches, closed networks). 1: HTTP Basic (user = station id) over ws or
wss. 2: HTTP Basic over TLS only. 3: TLS with a client certificate whose subject CN is the station id (and,
when pinned, whose SHA-256 fingerprint matches). Stations the registry does not know are refused (404, as
OCPP-J asks) or admitted as unregistered per policy; an unregistered station may only send BootNotification.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from enum import StrEnum
from http import HTTPStatus


@dataclass(frozen=True, slots=True)
class RegistryEntry:
    """The gateway's copy of one station of the auth service's registry."""

    status: str
    security_profile: int
    password_hash: str | None = None
    certificate_fingerprint: str | None = None
    other_password_hashes: tuple[str, ...] = ()  # during a rotation: the new one being sent, or the old one

    @property
    def password_hashes(self) -> tuple[str, ...]:
        return ((self.password_hash,) if self.password_hash else ()) + self.other_password_hashes


@dataclass(frozen=True, slots=True)
class Presented:
    """What a connecting station showed."""

    tls: bool
    basic_user: str | None = None
    basic_password: str | None = None
    certificate_cn: str | None = None
    certificate_fingerprint: str | None = None  # hex SHA-256 of the DER certificate

    def __repr__(self) -> str:  # never print the password, whoever logs this
        return f"Presented(tls={self.tls}, basic_user={self.basic_user!r}, certificate_cn={self.certificate_cn!r})"


class UnknownStations(StrEnum):
    REFUSE = "refuse"
    ADMIT = "admit"  # let in as unregistered: BootNotification only, the auth service decides (Pending/Rejected)


@dataclass(frozen=True, slots=True)
class Refuse:
    status: HTTPStatus
    reason: str
    challenge: bool = False  # answer with WWW-Authenticate: Basic
    code: str = "refused"  # short, bounded label for the metric and the log
    retry_after: int | None = None  # seconds, for 429 and 503


@dataclass(frozen=True, slots=True)
class CheckPassword:
    """Admit if the presented password matches one of these verifiers (checked by an adapter)."""

    password: str
    password_hashes: tuple[str, ...]
    profile: int

    def __repr__(self) -> str:
        return f"CheckPassword(profile={self.profile})"


@dataclass(frozen=True, slots=True)
class Admit:
    profile: int | None  # None: unregistered station, admitted by policy
    authenticated: bool


Verdict = Refuse | CheckPassword | Admit


def admission(station_id: str, entry: RegistryEntry | None, shown: Presented, unknown: UnknownStations) -> Verdict:
    if entry is None:
        if unknown is UnknownStations.ADMIT:
            return Admit(profile=None, authenticated=False)
        return Refuse(HTTPStatus.NOT_FOUND, f"station {station_id} is not registered", code="unknown_station")
    profile = entry.security_profile
    if profile == 0:
        return Admit(profile=0, authenticated=False)
    if profile >= 2 and not shown.tls:
        return Refuse(
            HTTPStatus.FORBIDDEN,
            f"security profile {profile} requires TLS: connect to the wss:// port",
            code="tls_required",
        )
    if profile == 3:
        return _certificate(station_id, entry, shown)
    if shown.basic_user is None or shown.basic_password is None:
        return Refuse(
            HTTPStatus.UNAUTHORIZED, "HTTP Basic authentication required", challenge=True, code="no_credentials"
        )
    if shown.basic_user != station_id:
        return Refuse(
            HTTPStatus.UNAUTHORIZED, "the Basic auth user must be the station id", challenge=True, code="wrong_user"
        )
    if not entry.password_hashes:
        return Refuse(
            HTTPStatus.UNAUTHORIZED,
            "no password is registered for this station",
            challenge=True,
            code="no_password_registered",
        )
    return CheckPassword(shown.basic_password, entry.password_hashes, profile)


def _certificate(station_id: str, entry: RegistryEntry, shown: Presented) -> Verdict:
    if shown.certificate_cn is None:
        return Refuse(
            HTTPStatus.UNAUTHORIZED, "security profile 3 requires a client certificate", code="no_certificate"
        )
    if shown.certificate_cn != station_id:
        return Refuse(
            HTTPStatus.FORBIDDEN, "the client certificate's subject CN is not the station id", code="wrong_certificate"
        )
    pinned = entry.certificate_fingerprint
    if pinned and _hex(pinned) != _hex(shown.certificate_fingerprint or ""):
        return Refuse(
            HTTPStatus.FORBIDDEN,
            "the client certificate is not the one registered for this station",
            code="wrong_certificate",
        )
    return Admit(profile=3, authenticated=True)


def _hex(fingerprint: str) -> str:
    return fingerprint.replace(":", "").lower()


def parse_basic(header: str | None) -> tuple[str, str] | None:
    """(user, password) from an Authorization: Basic header; None when absent or malformed."""
    if not header or not header[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(header[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None
