"""The WebSocket upgrade: path, subprotocol and credentials are checked before a station is let in.

Every refusal is an HTTP status with a body that says what to fix (404 unknown path or station, 400 no
usable subprotocol, 401 missing or wrong credentials, 403 wrong certificate or profile on the wrong port,
429 too many failed attempts from this address or for this station, 503 legacy password checks queued),
counted in `voltline_gateway_connections_total{outcome}` and logged at a bounded rate (adapters.refusals).
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import ssl
import time
from collections.abc import Awaitable
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, TypeVar

import structlog
from websockets.asyncio.server import ServerConnection
from websockets.http11 import Request, Response

from voltline_gateway.adapters.credentials import CredentialRefresher
from voltline_gateway.adapters.refusals import RefusalLog
from voltline_gateway.adapters.registry import PasswordChecker, SlowCheckBusy, StationRegistry
from voltline_gateway.domain.attempts import FailureWindow
from voltline_gateway.domain.ocpp_j import SUBPROTOCOLS
from voltline_gateway.domain.security import (
    Admit,
    CheckPassword,
    Presented,
    Refuse,
    UnknownStations,
    Verdict,
    admission,
    parse_basic,
)
from voltline_gateway.domain.station_id import is_valid_station_id
from voltline_gateway.metrics import CONNECTS

log = structlog.get_logger()
T = TypeVar("T")
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
            subject: Any = (ssl_object.getpeercert() or {}).get("subject", ())
            cn = next((value for rdn in subject for key, value in rdn if key == "commonName"), None)
    return Presented(
        tls=tls,
        basic_user=basic[0] if basic else None,
        basic_password=basic[1] if basic else None,
        certificate_cn=cn,
        certificate_fingerprint=fingerprint,
    )


@dataclass(frozen=True)
class AttemptLimits:
    """Failed attempts tolerated per remote address and per station id before 429 (see domain.attempts)."""

    per_address: int = 30
    per_station: int = 10
    window_s: float = 60.0


COUNTED = frozenset({"wrong_password", "wrong_user", "wrong_certificate", "no_certificate", "unknown_station"})


class UpgradeCheck:
    def __init__(
        self,
        registry: StationRegistry,
        passwords: PasswordChecker,
        *,
        unknown: UnknownStations,
        registry_grace: float,
        limits: AttemptLimits | None = None,
        refresher: CredentialRefresher | None = None,
        refusals: RefusalLog | None = None,
    ) -> None:
        self._registry = registry
        self._passwords = passwords
        self._unknown = unknown
        self._grace = registry_grace
        limits = limits or AttemptLimits()
        self._by_address = FailureWindow(limits.per_address, limits.window_s)
        self._by_station = FailureWindow(limits.per_station, limits.window_s)
        self._refresher = refresher
        self.refusals = refusals or RefusalLog()

    async def __call__(self, connection: ServerConnection, request: Request, *, tls: bool) -> Response | None:
        address = remote_address(connection)
        station_id = station_id_from_path(request.path)
        if station_id is None:
            reason = "connect to /ocpp/{station_id}; a station id is 1-48 characters of a-z A-Z 0-9 * - _ = : + | @ ."
            return self._refuse(connection, Refuse(HTTPStatus.NOT_FOUND, reason, code="bad_path"), None, address)
        if not any(p in SUBPROTOCOLS for p in offered_subprotocols(request)):
            reason = f"offer one of the subprotocols {', '.join(SUBPROTOCOLS)} in Sec-WebSocket-Protocol"
            refusal = Refuse(HTTPStatus.BAD_REQUEST, reason, code="bad_subprotocol")
            return self._refuse(connection, refusal, station_id, address)
        wait = self._by_address.retry_after(address, time.monotonic())
        if wait is not None:
            refusal = _backoff("too many failed attempts from this address", "address_backoff", wait)
            return self._refuse(connection, refusal, station_id, address)
        entry = self._registry.get(station_id) or await self._registry.wait_for(station_id, self._grace)
        verdict = admission(station_id, entry, presented(connection, request, tls=tls), self._unknown)
        if isinstance(verdict, CheckPassword):
            verdict = await self._password(connection, station_id, verdict)
        if isinstance(verdict, Refuse):
            if verdict.code in COUNTED:
                now = time.monotonic()
                self._by_address.failed(address, now)
                if verdict.code != "unknown_station":
                    self._by_station.failed(station_id, now)
            return self._refuse(connection, verdict, station_id, address)
        assert isinstance(verdict, Admit)
        setattr(connection, ADMISSION, verdict)
        CONNECTS.labels(outcome="admitted" if verdict.profile is not None else "admitted_unregistered").inc()
        return None

    async def _password(self, connection: ServerConnection, station_id: str, check: CheckPassword) -> Verdict:
        admitted = Admit(profile=check.profile, authenticated=True)
        matched, slow = self._passwords.quick(station_id, check.password, check.password_hashes)
        if matched:
            return admitted
        wait = self._by_station.retry_after(station_id, time.monotonic())
        if slow and wait is None:  # legacy bcrypt: bounded, and dropped when the station hangs up
            try:
                for verifier in slow:
                    ok = await _unless_gone(connection, self._passwords.slow(station_id, check.password, verifier))
                    if ok is None:
                        return Refuse(HTTPStatus.REQUEST_TIMEOUT, "the station hung up", code="abandoned")
                    if ok:
                        return admitted
            except SlowCheckBusy:
                return Refuse(
                    HTTPStatus.SERVICE_UNAVAILABLE, "too many password checks queued", code="busy", retry_after=5
                )
        if self._refresher is not None and wait is None:  # perhaps a rotation whose record is still on its way
            fresh = await _unless_gone(connection, self._refresher.refresh(station_id))
            if fresh is not None and fresh.password_hashes != check.password_hashes:
                matched, _ = self._passwords.quick(station_id, check.password, fresh.password_hashes)
                if matched:
                    return admitted
            wait = self._by_station.retry_after(station_id, time.monotonic())
        if wait is not None:
            return _backoff("too many failed attempts for this station", "station_backoff", wait)
        return Refuse(HTTPStatus.UNAUTHORIZED, "wrong station id or password", challenge=True, code="wrong_password")

    def timed_out(self, connection: ServerConnection) -> None:
        """The opening handshake did not finish in time (slow headers, or a check that took too long)."""
        request = connection.request
        station_id = station_id_from_path(request.path) if request is not None else None
        reason = "no complete HTTP request in time" if request is None else "the upgrade was not decided in time"
        self.refusals.record(
            code="handshake_timeout", station_id=station_id, address=remote_address(connection), reason=reason, status=0
        )

    def _refuse(self, connection: ServerConnection, refusal: Refuse, station_id: str | None, address: str) -> Response:
        self.refusals.record(
            code=refusal.code, station_id=station_id, address=address, reason=refusal.reason, status=int(refusal.status)
        )
        response = connection.respond(refusal.status, refusal.reason + "\n")
        if refusal.challenge:
            response.headers["WWW-Authenticate"] = 'Basic realm="voltline OCPP", charset="UTF-8"'
        if refusal.retry_after is not None:
            response.headers["Retry-After"] = str(refusal.retry_after)
        return response


def _backoff(reason: str, code: str, wait: float) -> Refuse:
    seconds = max(1, math.ceil(wait))
    return Refuse(HTTPStatus.TOO_MANY_REQUESTS, f"{reason}; retry in {seconds} s", code=code, retry_after=seconds)


def remote_address(connection: ServerConnection) -> str:
    peer = connection.transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else "unknown"


async def _unless_gone(connection: ServerConnection, work: Awaitable[T]) -> T | None:
    """`work`'s result, or None (and `work` cancelled) when the peer hangs up first."""
    task = asyncio.ensure_future(work)
    lost = connection.connection_lost_waiter
    try:
        waiters: set[asyncio.Future[Any]] = {task, lost}
        done, _ = await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:
        task.cancel()
        raise
    if task in done:
        return task.result()
    task.cancel()
    return None
