"""Sessions the station will never end, ended by voltline with a clear reason (docs/sessions.md, "Ending reasons").

- A new transaction on the same bay ends an older active one (`ConnectorReused`, or `StationRebooted` when the
  station rebooted since).
- A reboot puts the station's active sessions in doubt; a silent session (no message of its transaction for
  `silent_after`) too. A session in doubt is checked with the station (2.x GetTransactionStatus, 1.6
  TriggerMessage MeterValues); any message of its transaction clears the doubt; a station that says it does
  not know it ends it at once (`UnknownToStation`); otherwise it ends after `confirm_grace`
  (`StationRebooted` / `Unconfirmed`).
Every ending is at the session's last known reading, names who ended it, and is published as session.ended.
"""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING

from voltline_chassis.logging import get_logger

from voltline_session.domain.remote import check_command, station_confirmed, station_forgot
from voltline_session.domain.session import (
    CONNECTOR_REUSED,
    DOUBT_REBOOTED,
    NOT_AUTHORIZED,
    STATION_REBOOTED,
    UNCONFIRMED,
    UNKNOWN_TO_STATION,
    Session,
    confirmed,
    end_by_csms,
    superseded,
)
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.ledger import announce, recompute
from voltline_session.service_layer.unit_of_work import SessionUnitOfWork

if TYPE_CHECKING:
    from voltline_session.service_layer.remote import CommandSender

log = get_logger(__name__)
CHECKS_PER_ROUND = 50


async def _end(
    ctx: SessionContext, uow: SessionUnitOfWork, before: Session, reason: str, detail: str, now: datetime
) -> Session:
    session, derived = await recompute(ctx, uow, end_by_csms(before, reason=reason, detail=detail, now=now), now)
    session = announce(ctx, uow, before, session, derived, now)
    await uow.sessions.save(session)
    log.warning("session ended by voltline", session_id=session.session_id, reason=reason, detail=detail)
    return session


async def end_superseded(ctx: SessionContext, uow: SessionUnitOfWork, newer: Session, now: datetime) -> None:
    """A transaction that started on a bay ends the older sessions still active there."""
    for older in await uow.sessions.active_on_bay(newer.station_id, newer.bay):
        if superseded(older, newer):
            rebooted = older.doubt == DOUBT_REBOOTED
            detail = f"transaction {newer.transaction_id} started on the same {'connector' if newer.ocpp_version == 'ocpp1.6' else 'EVSE'} at {newer.started_at.isoformat()}"  # noqa: E501
            await _end(ctx, uow, older, STATION_REBOOTED if rebooted else CONNECTOR_REUSED, detail, now)


async def end_refused(
    ctx: SessionContext, uow: SessionUnitOfWork, session: Session, status: str, now: datetime
) -> None:
    """The CSMS refused the transaction's token: an unauthorised start is never an active session."""
    if session.active:
        detail = f"the station was answered {status} for token {session.id_token or '?'}"
        await _end(ctx, uow, session, NOT_AUTHORIZED, detail, now)


async def end_session(ctx: SessionContext, session_id: str, reason: str, detail: str) -> Session | None:
    """End one session for a reason the station gave (it does not know the transaction); None if already ended."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        before = await uow.sessions.get(session_id, for_update=True)
        if before is None or not before.active:
            return None
        session = await _end(ctx, uow, before, reason, detail, now)
        await uow.commit()
    return session


def _reason(session: Session, *, forgot: bool) -> str:
    if session.doubt == DOUBT_REBOOTED:
        return STATION_REBOOTED
    return UNKNOWN_TO_STATION if forgot else UNCONFIRMED


async def _check(ctx: SessionContext, commands: CommandSender, session: Session) -> None:
    action, payload = check_command(session.ocpp_version, session.transaction_id, session.bay)
    try:
        answer = await commands.send(session.station_id, action, payload, session.ocpp_version)
    except Exception as exc:  # no gateway, a timeout: the grace decides
        log.info("session check not answered", session_id=session.session_id, error=repr(exc))
        return
    if answer.outcome != "answered":
        return
    if station_forgot(session.ocpp_version, action, answer.payload):
        detail = f"{action}: the station does not know transaction {session.transaction_id}"
        await end_session(ctx, session.session_id, _reason(session, forgot=True), detail)
    elif station_confirmed(action, answer.payload):
        async with ctx.uow() as uow:
            current = await uow.sessions.get(session.session_id, for_update=True)
            if current is not None and current.active and current.doubt is not None:
                await uow.sessions.save(confirmed(current, ctx.clock()))
            await uow.commit()


async def confirm_sessions(ctx: SessionContext, commands: CommandSender) -> int:
    """One supervision round: doubt silent sessions, check doubtful ones, end those not confirmed in time."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        await uow.sessions.mark_silent(now - ctx.silent_after, now)
        to_check = await uow.sessions.unchecked_doubts(now, CHECKS_PER_ROUND)
        expired = await uow.sessions.expired_doubts(now - ctx.confirm_grace, CHECKS_PER_ROUND)
        for before in expired:
            what = "rebooted" if before.doubt == DOUBT_REBOOTED else "was silent"
            since = before.doubt_since.isoformat() if before.doubt_since else "?"
            detail = f"the station {what} (since {since}) and did not confirm the transaction"
            await _end(ctx, uow, before, _reason(before, forgot=False), detail, now)
        await uow.commit()
    expired_ids = {s.session_id for s in expired}
    await asyncio.gather(*(_check(ctx, commands, s) for s in to_check if s.session_id not in expired_ids))
    return len(expired)
