"""Operator and app API of the session service: sessions, the live view, remote start and stop."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import AwareDatetime
from voltline_chassis.paging import DEFAULT_LIMIT, Limit, Offset, fetch_size
from voltline_chassis.problems import Problem
from voltline_chassis.security import OperatorPrincipal, require_role

from voltline_session.domain.meter import ENERGY
from voltline_session.domain.remote import StartRequest
from voltline_session.entrypoints import schemas as s
from voltline_session.service_layer import queries, remote
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.ports import SessionFilter
from voltline_session.service_layer.supervision import close_session

# How each failed verdict of a station command is told to the caller: HTTP status and problem `code`.
_VERDICTS = {
    "rejected": (409, "station_rejected"),
    "offline": (409, "station_offline"),
    "station_timeout": (504, "station_timeout"),
    "call_error": (502, "station_call_error"),
    "invalid": (502, "command_refused_by_gateway"),
}


def _answer(outcome: remote.CommandOutcome) -> s.CommandOut:
    v = outcome.verdict
    body = s.CommandOut(
        station_id=outcome.station_id,
        status=v.station_status,
        message=v.message,
        station_response=outcome.station_response,
        remote_start_id=outcome.remote_start_id,
        session_id=outcome.session_id,
        session_ended_reason=outcome.session_ended_reason,
    )
    if not v.accepted:
        status, code = _VERDICTS[v.kind]
        extra = {"code": code, **body.model_dump(exclude={"status", "message"}), "station_status": v.station_status}
        raise Problem(status, v.message, title="Station command failed", extra=extra)
    return body


def build_router(ctx: SessionContext, auth: remote.Authorizer, commands: remote.CommandSender) -> APIRouter:
    router = APIRouter(tags=["sessions"])
    operator = [Depends(require_role("operator"))]
    viewer = [Depends(require_role("viewer"))]

    @router.get("/sessions", dependencies=viewer)
    async def list_sessions(
        station_id: str | None = None,
        status: Literal["active", "completed"] | None = None,
        driver_id: str | None = None,
        id_token: str | None = None,
        suspect: bool | None = None,
        from_: Annotated[AwareDatetime | None, Query(alias="from", description="Started at or after.")] = None,
        to: Annotated[AwareDatetime | None, Query(description="Started before.")] = None,
        limit: Limit = DEFAULT_LIMIT,
        offset: Offset = 0,
    ) -> s.SessionList:
        where = SessionFilter(station_id, status, driver_id, id_token, from_, to, suspect)
        found = await queries.list_sessions(ctx, where, limit=fetch_size(limit), offset=offset)
        return s.SessionList.of([s.SessionOut.of(x) for x in found], limit, offset)

    # Declared before /sessions/{session_id}, which would otherwise take "active" for an id.
    @router.get("/sessions/active", dependencies=viewer)
    async def live(station_id: str | None = None, limit: Limit = DEFAULT_LIMIT, offset: Offset = 0) -> s.LiveList:
        where = SessionFilter(station_id=station_id, status="active")
        found = await queries.list_sessions(ctx, where, limit=fetch_size(limit), offset=offset)
        return s.LiveList.of([s.LiveSession.of(x) for x in found], limit, offset)

    @router.get("/sessions/{session_id}", dependencies=viewer)
    async def get_session(session_id: str) -> s.SessionOut:
        session, derived = await queries.session_details(ctx, session_id)
        return s.SessionOut.of(session, derived.periods)

    @router.get("/sessions/{session_id}/meter-values", dependencies=viewer)
    async def meter_values(session_id: str) -> s.MeterValueList:
        session, derived = await queries.session_details(ctx, session_id)
        contexts = {r.at: r.context for r in derived.readings if r.measurand == ENERGY}
        items = [s.MeterValueOut.of_entry(e, contexts.get(e.at)) for e in derived.energy.timeline]
        items += [s.MeterValueOut.of_reading(r) for r in derived.readings if r.measurand != ENERGY]
        items.sort(key=lambda item: (item.at, item.measurand))
        return s.MeterValueList(session_id=session_id, energy_wh=session.energy_wh, items=items)

    @router.post("/sessions/{session_id}/remote-stop", dependencies=operator)
    async def remote_stop(session_id: str, who: OperatorPrincipal) -> s.CommandOut:
        outcome = await remote.remote_stop(ctx, commands, session_id, by=who.subject)
        return _answer(outcome)

    @router.post("/sessions/{session_id}/close", dependencies=operator)
    async def close(session_id: str, who: OperatorPrincipal, body: s.CloseIn | None = None) -> s.SessionOut:
        session = await close_session(ctx, session_id, by=who.subject, reason=body.reason if body else None)
        return s.SessionOut.of(session)

    @router.post("/remote-start", dependencies=operator)
    async def remote_start(body: s.RemoteStartIn, who: OperatorPrincipal) -> s.CommandOut:
        request = StartRequest(
            body.station_id, body.id_token, body.id_token_type, body.evse_id, body.connector_id, body.charging_profile
        )
        try:
            outcome = await remote.remote_start(ctx, auth, commands, request, by=who.subject)
        except remote.TokenNotAccepted as exc:  # names the token of the body, which only the route knows
            raise Problem(
                409,
                f"Id token {body.id_token!r} may not charge: the auth service answered {exc.status}.",
                title="Id token not accepted",
                extra={"code": "id_token_not_accepted", "authorization_status": exc.status},
            ) from None
        return _answer(outcome)

    @router.get("/station-presence/{station_id}", dependencies=viewer)
    async def station_presence(station_id: str) -> s.StationPresenceOut:
        """What this service knows of a station: the protocol remote commands use, and when it was last heard."""
        found = await queries.get_station(ctx, station_id)
        if found is None:
            raise Problem(404, f"Station {station_id!r} has never been heard from.", extra={"station_id": station_id})
        return s.StationPresenceOut.of(found)

    @router.get("/remote-starts/{remote_start_id}", dependencies=viewer)
    async def get_remote_start(remote_start_id: int) -> s.RemoteStartOut:
        found = await queries.get_remote_start(ctx, remote_start_id)
        if found is None:
            raise Problem(404, f"No remote start {remote_start_id}.", extra={"remote_start_id": remote_start_id})
        return s.RemoteStartOut.of(found)

    return router
