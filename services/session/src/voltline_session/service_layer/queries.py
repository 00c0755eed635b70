"""Reading sessions for the API; nothing here changes state."""

from __future__ import annotations

from voltline_session.domain.session import Session
from voltline_session.domain.stations import RemoteStart, StationState
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.ledger import Derived, recompute
from voltline_session.service_layer.ports import SessionFilter
from voltline_session.service_layer.supervision import SessionNotFound


async def list_sessions(ctx: SessionContext, where: SessionFilter, *, limit: int, offset: int) -> list[Session]:
    async with ctx.reader() as uow:
        return await uow.sessions.list(where, limit=limit, offset=offset)


async def session_details(ctx: SessionContext, session_id: str) -> tuple[Session, Derived]:
    """The session with its periods and meter timeline, as recomputed now (not saved)."""
    async with ctx.reader() as uow:
        session = await uow.sessions.get(session_id)
        if session is None:
            raise SessionNotFound(session_id)
        return await recompute(ctx, uow, session, ctx.clock())


async def get_remote_start(ctx: SessionContext, remote_start_id: int) -> RemoteStart | None:
    async with ctx.reader() as uow:
        return await uow.remote_starts.get(remote_start_id)


async def get_station(ctx: SessionContext, station_id: str) -> StationState | None:
    async with ctx.reader() as uow:
        return await uow.stations.get(station_id)
