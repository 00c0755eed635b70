"""Remote start and stop (the app flow): auth checks the token, the gateway talks to the station.

The remote start is recorded *before* the command goes out, so a session the station starts at once
(its StartTransaction may overtake the command's answer on the bus) still finds the request to link to.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any, Protocol

from voltline_chassis.logging import get_logger

from voltline_session.domain.remote import (
    OCPP16,
    CommandNotPossible,
    StartRequest,
    Verdict,
    check_command,
    start_command,
    station_forgot,
    stop_command,
    verdict,
)
from voltline_session.domain.session import UNKNOWN_TO_STATION, Session
from voltline_session.domain.stations import StationState
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.endings import end_session
from voltline_session.service_layer.supervision import SessionAlreadyEnded, SessionNotFound

log = get_logger(__name__)


class Unanswered(Exception):
    """A service on the bus did not answer in time; the message says which."""


class AuthUnanswered(Unanswered):
    pass


class GatewayUnanswered(Unanswered):
    pass


@dataclass(frozen=True)
class Decision:
    status: str
    driver_id: str | None = None


@dataclass(frozen=True)
class CommandAnswer:
    outcome: str
    payload: dict[str, Any] | None = None
    error_code: str | None = None
    error_description: str | None = None


class Authorizer(Protocol):
    async def authorize(
        self, station_id: str, ocpp_version: str, id_token: str, id_token_type: str, evse_id: int | None
    ) -> Decision:
        """Raises Unanswered when the auth service does not answer in time."""
        ...


class CommandSender(Protocol):
    timeout_s: float

    async def send(
        self, station_id: str, action: str, payload: dict[str, Any], ocpp_version: str, *, quick: bool = False
    ) -> CommandAnswer:
        """Raises Unanswered when no gateway answers in time (`quick`: wait only briefly)."""
        ...


class StationUnknown(Exception):
    def __init__(self, station_id: str) -> None:
        super().__init__(f"Station {station_id} is offline: voltline has never heard from it, so nothing was sent.")
        self.station_id = station_id


class StationOffline(Exception):
    """The station was last seen disconnecting and no gateway contradicted that in time."""

    def __init__(self, message: str, station_id: str) -> None:
        super().__init__(message)
        self.station_id = station_id


class TokenNotAccepted(Exception):
    def __init__(self, status: str) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class CommandOutcome:
    station_id: str
    verdict: Verdict
    station_response: dict[str, Any] | None
    remote_start_id: int | None = None
    session_id: str | None = None
    driver_id: str | None = None
    session_ended_reason: str | None = None  # voltline ended the session because of the station's answer


async def _station(ctx: SessionContext, station_id: str) -> StationState:
    async with ctx.uow() as uow:
        station = await uow.stations.get(station_id)
    if station is None or station.ocpp_version is None:
        raise StationUnknown(station_id)
    return station


async def _send(
    commands: CommandSender, station: StationState, action: str, payload: dict[str, Any], version: str
) -> tuple[Verdict, CommandAnswer]:
    """Ask the gateway; when the station was last seen disconnecting, do not wait long to hear it is offline."""
    try:
        answer = await commands.send(station.station_id, action, payload, version, quick=not station.connected)
    except Unanswered as exc:
        if station.connected:
            raise
        since = f" since {station.presence_at:%Y-%m-%dT%H:%M:%SZ}" if station.presence_at else ""
        message = f"Station {station.station_id} is offline (disconnected{since}). {exc}"
        raise StationOffline(message, station.station_id) from None
    station_id = station.station_id
    found = verdict(
        station_id=station_id,
        action=action,
        outcome=answer.outcome,
        payload=answer.payload,
        error_code=answer.error_code,
        error_description=answer.error_description,
        timeout_s=commands.timeout_s,
    )
    return found, answer


async def remote_start(
    ctx: SessionContext, auth: Authorizer, commands: CommandSender, request: StartRequest, *, by: str
) -> CommandOutcome:
    station = await _station(ctx, request.station_id)
    version = station.ocpp_version or ""
    start_command(version, request, remote_start_id=0)  # refuses what this protocol cannot express, before asking
    decision = await auth.authorize(
        request.station_id, version, request.id_token, request.id_token_type, request.evse_id
    )
    if decision.status != "Accepted":
        raise TokenNotAccepted(decision.status)
    async with ctx.uow() as uow:
        remote_start_id = await uow.remote_starts.add(
            station_id=request.station_id,
            id_token=request.id_token,
            id_token_type=request.id_token_type,
            evse_id=request.evse_id,
            connector_id=request.connector_id,
            driver_id=decision.driver_id,
            status="sent",
            requested_by=by,
            requested_at=ctx.clock(),
        )
        await uow.commit()
    action, payload = start_command(version, request, remote_start_id)
    try:
        found, answer = await _send(commands, station, action, payload, version)
    except (Unanswered, StationOffline) as exc:
        await _answered(ctx, remote_start_id, "failed", str(exc), None)
        raise
    status = "accepted" if found.accepted else "rejected" if found.kind == "rejected" else "failed"
    await _answered(ctx, remote_start_id, status, found.message, answer.payload)
    log.info("remote start", station_id=request.station_id, remote_start_id=remote_start_id, outcome=found.kind)
    session_id = await _session_of(ctx, remote_start_id)
    return CommandOutcome(request.station_id, found, answer.payload, remote_start_id, session_id, decision.driver_id)


async def _answered(ctx: SessionContext, remote_start_id: int, status: str, message: str, response: Any) -> None:
    async with ctx.uow() as uow:
        await uow.remote_starts.answered(
            remote_start_id, status=status, message=message[:500], station_response=response, answered_at=ctx.clock()
        )
        await uow.commit()


async def _session_of(ctx: SessionContext, remote_start_id: int) -> str | None:
    async with ctx.uow() as uow:
        start = await uow.remote_starts.get(remote_start_id)
    return start.session_id if start else None


async def remote_stop(ctx: SessionContext, commands: CommandSender, session_id: str, *, by: str) -> CommandOutcome:
    async with ctx.uow() as uow:
        session = await uow.sessions.get(session_id)
    if session is None:
        raise SessionNotFound(session_id)
    if not session.active:
        raise SessionAlreadyEnded(session)
    action, payload = stop_command(session.ocpp_version, session.transaction_id)
    station = await _station(ctx, session.station_id)
    found, answer = await _send(commands, station, action, payload, session.ocpp_version)
    if found.accepted:
        await _stop_requested(ctx, session)
    ended_reason = None
    if found.kind == "rejected" and await _station_forgot(commands, station, session, action, answer):
        detail = f"{action} rejected: the station does not know transaction {session.transaction_id}"
        if await end_session(ctx, session_id, UNKNOWN_TO_STATION, detail) is not None:
            ended_reason = UNKNOWN_TO_STATION
            found = replace(found, message=f"{found.message} voltline ended the session ({UNKNOWN_TO_STATION}).")
    log.info("remote stop", session_id=session_id, by=by, outcome=found.kind, ended=ended_reason)
    return CommandOutcome(
        session.station_id,
        found,
        answer.payload,
        session.remote_start_id,
        session_id,
        session.driver_id,
        session_ended_reason=ended_reason,
    )


async def _station_forgot(
    commands: CommandSender, station: StationState, session: Session, action: str, answer: CommandAnswer
) -> bool:
    """A rejected stop: does the station still have the transaction? (2.x asks GetTransactionStatus.)"""
    if station_forgot(session.ocpp_version, action, answer.payload):
        return True
    if session.ocpp_version == OCPP16:
        return False
    check, payload = check_command(session.ocpp_version, session.transaction_id, session.bay)
    try:
        _, status_answer = await _send(commands, station, check, payload, session.ocpp_version)
    except (Unanswered, StationOffline):
        return False
    return status_answer.outcome == "answered" and station_forgot(session.ocpp_version, check, status_answer.payload)


async def _stop_requested(ctx: SessionContext, session: Session) -> None:
    async with ctx.uow() as uow:
        current = await uow.sessions.get(session.session_id, for_update=True)
        if current is not None:
            await uow.sessions.save(replace(current, remote_stop_requested_at=ctx.clock()))
        await uow.commit()


__all__ = [
    "AuthUnanswered",
    "Authorizer",
    "CommandAnswer",
    "CommandNotPossible",
    "CommandOutcome",
    "CommandSender",
    "Decision",
    "GatewayUnanswered",
    "StationOffline",
    "StationUnknown",
    "TokenNotAccepted",
    "Unanswered",
    "remote_start",
    "remote_stop",
]
