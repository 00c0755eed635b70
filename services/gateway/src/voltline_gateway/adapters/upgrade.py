"""The WebSocket upgrade: path, subprotocol and credentials are checked before a station is let in.

Every refusal is an HTTP status with a body that says what to fix (404 unknown path or station, 400 no
usable subprotocol, 401 missing or wrong credentials, 403 wrong certificate or profile on the wrong port).
"""

from __future__ import annotations

import hashlib
import ssl
from http import HTTPStatus

import structlog
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from voltline_gateway.adapters.registry import PasswordChecker, StationRegistry
from voltline_gateway.domain.ocpp_j import SUBPROTOCOLS
from voltline_gateway.domain.security import (
    Admit,
    CheckPassword,
    Presented,
    Refuse,
    UnknownStations,
    admission,
    parse_basic,
)
from voltline_gateway.domain.station_id import is_valid_station_id
from voltline_gateway.metrics import CONNECTS

log = structlog.get_logger()
PATH_PREFIX = "/ocpp/"
ADMISSION = "voltline_admission"  # attribute set on the connection for the handler


def station_id_from_path(path: str) -> str | None:
    raw = path.split("?", 1)[0]
    if not raw.startswith(PATH_PREFIX):
        return None
    station_id = raw[len(PATH_PREFIX) :]
    return station_id if is_valid_station_id(station_id) else None


def offered_subprotocols(request: Request) -> list[str]:
    return [p.strip() for value in request.headers.get_all("Sec-WebSocket-Protocol") for p in value.split(",")]


def presented(connection: ServerConnection, request: Request, *, tls: bool) -> Presented:
    basic = parse_basic(request.headers.get("Authorization"))
    cn = fingerprint = None
    ssl_object: ssl.SSLObject | None = connection.transport.get_extra_info("ssl_object") if tls else None
    if ssl_object is not None:
        der = ssl_object.getpeercert(binary_form=True)
        if der:  # only present when it was verified against the CA
            fingerprint = hashlib.sha256(der).hexdigest()
            subject = (ssl_object.getpeercert() or {}).get("subject", ())
            cn = next((value for rdn in subject for key, value in rdn if key == "commonName"), None)
    return Presented(
        tls=tls,
        basic_user=basic[0] if basic else None,
        basic_password=basic[1] if basic else None,
        certificate_cn=cn,
        certificate_fingerprint=fingerprint,
    )


class UpgradeCheck:
    def __init__(
        self,
        registry: StationRegistry,
        passwords: PasswordChecker,
        *,
        unknown: UnknownStations,
        registry_grace: float,
    ) -> None:
        self._registry = registry
        self._passwords = passwords
        self._unknown = unknown
        self._grace = registry_grace

    async def __call__(self, connection: ServerConnection, request: Request, *, tls: bool) -> Response | None:
        station_id = station_id_from_path(request.path)
        if station_id is None:
            return _refuse(
                connection,
                Refuse(
                    HTTPStatus.NOT_FOUND,
                    "connect to /ocpp/{station_id}; a station id is 1-48 characters of a-z A-Z 0-9 * - _ = : + | @ .",
                ),
                "bad_path",
            )
        if not any(p in SUBPROTOCOLS for p in offered_subprotocols(request)):
            reason = f"offer one of the subprotocols {', '.join(SUBPROTOCOLS)} in Sec-WebSocket-Protocol"
            return _refuse(connection, Refuse(HTTPStatus.BAD_REQUEST, reason), "bad_subprotocol")
        entry = self._registry.get(station_id) or await self._registry.wait_for(station_id, self._grace)
        verdict = admission(station_id, entry, presented(connection, request, tls=tls), self._unknown)
        if isinstance(verdict, CheckPassword):
            if await self._passwords.verify(station_id, verdict.password, verdict.password_hash):
                verdict = Admit(profile=verdict.profile, authenticated=True)
            else:
                verdict = Refuse(HTTPStatus.UNAUTHORIZED, "wrong station id or password", challenge=True)
        if isinstance(verdict, Refuse):
            with structlog.contextvars.bound_contextvars(station_id=station_id):
                return _refuse(connection, verdict, "refused")
        assert isinstance(verdict, Admit)
        setattr(connection, ADMISSION, verdict)
        CONNECTS.labels(outcome="admitted" if verdict.profile is not None else "admitted_unregistered").inc()
        return None


def _refuse(connection: ServerConnection, refusal: Refuse, outcome: str) -> Response:
    CONNECTS.labels(outcome=outcome).inc()
    log.info("connection refused", status=int(refusal.status), reason=refusal.reason)
    response = connection.respond(refusal.status, refusal.reason + "\n")
    if refusal.challenge:
        response.headers["WWW-Authenticate"] = 'Basic realm="voltline OCPP", charset="UTF-8"'
    return response
