"""Sessions that stations forgot: marking them suspect, letting operators close them, housekeeping."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from voltline_chassis.logging import get_logger

from voltline_session.domain.session import Session, close_by_operator
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.ledger import ACTIVE, announce, recompute

log = get_logger(__name__)


class SessionNotFound(Exception):
    pass


class SessionAlreadyEnded(Exception):
    def __init__(self, session: Session) -> None:
        super().__init__(session.session_id)
        self.session = session


async def mark_silent_stations(ctx: SessionContext) -> int:
    """Active sessions whose station has been silent longer than `suspect_after` become suspect."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        count = await uow.sessions.mark_suspect(now - ctx.suspect_after, now)
        await uow.commit()
        ACTIVE.set(await uow.sessions.count_active())
    if count:
        log.warning("sessions marked suspect: their stations went silent", sessions=count)
    return count


async def announce_held_ends(ctx: SessionContext) -> int:
    """Ends held back for missing messages are announced once the grace period is over."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        held = await uow.sessions.unannounced_ends(now - ctx.end_grace)
        for before in held:
            session, derived = await recompute(ctx, uow, before, now)
            session = announce(ctx, uow, before, session, derived, now)
            await uow.sessions.save(session)
        await uow.commit()
    if held:
        log.warning("session ends announced without all their messages", sessions=len(held))
    return len(held)


async def close_session(ctx: SessionContext, session_id: str, *, by: str, reason: str | None) -> Session:
    """An operator ends a session the station will not end; session.ended goes out as for any end."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        before = await uow.sessions.get(session_id, for_update=True)
        if before is None:
            raise SessionNotFound(session_id)
        if not before.active:
            raise SessionAlreadyEnded(before)
        session, derived = await recompute(ctx, uow, close_by_operator(before, by=by, reason=reason, now=now), now)
        session = announce(ctx, uow, before, session, derived, now)
        await uow.sessions.save(session)
        await uow.commit()
    log.info("session closed by an operator", session_id=session_id, by=by, energy_wh=session.energy_wh)
    return session


async def run_supervision(
    ctx: SessionContext,
    *,
    interval: float,
    housekeeping: Callable[[], Awaitable[object]] | None = None,
    confirm: Callable[[], Awaitable[object]] | None = None,
) -> None:
    """Forever, every `interval` seconds: silence checks, held-back ends and sessions in doubt (`confirm`);
    hourly: `housekeeping` (the store's old inbox/outbox rows, wired in bootstrap)."""
    housekeeping_every = max(1, int(3600 / interval))
    rounds = 0
    while True:
        try:
            await mark_silent_stations(ctx)
            await announce_held_ends(ctx)
            if confirm is not None:
                await confirm()
            if housekeeping is not None and rounds % housekeeping_every == 0:
                await housekeeping()
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("session supervision round failed; trying again next round")
        rounds += 1
        await asyncio.sleep(interval)
