"""Applying what stations said (through the gateway's events) to sessions.

Every handler first records the event id in the inbox (a redelivery changes nothing) and touches the
station's row, which says when it was last heard from and serialises that station's writes. Inside a
consumer batch, messages that only add readings or observations to an active session are folded in
memory and the session is recomputed once per batch (`batching`); anything else first stores what
the batch holds of that station, then runs as it would alone.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from uuid import UUID

from voltline_events.payloads import ConnectorStatus, StationTransaction, TransactionRefused

from voltline_session.domain.meter import as_utc, readings_from
from voltline_session.domain.periods import START_LOOKBACK, state_from_charging_state, state_from_status
from voltline_session.domain.session import Session, bay_of, merge, open_session
from voltline_session.service_layer.batching import (
    Pending,
    announce_and_hold,
    announce_held,
    append,
    as_left,
    due_foldable,
    flush,
    foldable,
    held,
    held_of,
    hold,
    holdable,
)
from voltline_session.service_layer.context import CONSUMER, SessionContext
from voltline_session.service_layer.endings import end_refused, end_superseded
from voltline_session.service_layer.ledger import announce, fold, recompute
from voltline_session.service_layer.unit_of_work import SessionUnitOfWork

_CLEARED = "session.touch_cleared"
"""Batch memo key: the stations whose suspect sessions this batch has cleared (their rows locked and in its
memory): their next events only move "last seen" in that memory (`seen_again`), the rest of `_touch` being
done for the batch, `clear_suspect` included (the repository keeps no record of its own). A session only
turns suspect in supervision's own transaction, which waits for the batch's locks."""


async def _touch(
    ctx: SessionContext, uow: SessionUnitOfWork, station_id: str, seen_at: datetime, version: str | None, now: datetime
) -> None:
    memo = uow.batch_memo
    cleared: set[str] | None = memo.get(_CLEARED) if memo is not None else None
    if cleared is not None and station_id in cleared and uow.stations.seen_again(station_id, seen_at, version):
        return
    station = await uow.stations.touch(station_id, seen_at, version, now)
    if station.last_seen_at >= now - ctx.suspect_after:
        # A session the batch holds was read by an older message of the station, still silent then: stored
        # first, or the batch's save of it would bring back the flag cleared here.
        if any(kept.stable.suspect for kept in held_of(uow, station_id)):
            await flush(ctx, uow, station_id)
        await uow.sessions.clear_suspect(station_id)  # its rows then read again, so none is stale
        if memo is not None:
            memo.setdefault(_CLEARED, set()).add(station_id)


async def _link_remote_start(ctx: SessionContext, uow: SessionUnitOfWork, session: Session, fresh: bool) -> Session:
    """Tie a session to the remote start that caused it: by remoteStartId (2.x), else token and time (1.6)."""
    if session.remote_start_id is not None:
        start = await uow.remote_starts.get(session.remote_start_id)
        if (
            start is None
            or start.station_id != session.station_id
            or start.session_id not in (None, session.session_id)
        ):
            return session
    elif fresh and session.id_token:
        start = await uow.remote_starts.awaiting_session(
            session.station_id,
            session.id_token,
            session.bay if (session.evse_id, session.connector_id) != (None, None) else None,
            earliest=session.started_at - ctx.link_window,
            latest=session.started_at + ctx.clock_skew,
        )
        if start is None:
            return session
    else:
        return session
    if start.session_id is None:
        await uow.remote_starts.link(start.remote_start_id, session.session_id)
    return replace(session, remote_start_id=start.remote_start_id, driver_id=session.driver_id or start.driver_id)


async def _fold(
    ctx: SessionContext,
    uow: SessionUnitOfWork,
    before: Pending | Session,
    session: Session,
    tx: StationTransaction,
    now: datetime,
) -> None:
    """Add the message's facts and keep the session in memory: recomputed once, when the batch ends."""
    readings, problems = readings_from(tx.meter_values)
    await uow.readings.add(session.session_id, readings)
    state = state_from_charging_state(tx.charging_state)
    if state is not None and tx.charging_state:
        await uow.states.add(session.station_id, session.bay, as_utc(tx.timestamp), "tx", state, tx.charging_state)
    hold(ctx, uow, before, session.with_problems(problems), now, readings)


async def record_transaction(
    ctx: SessionContext, station_id: str, event_id: UUID, seen_at: datetime, tx: StationTransaction
) -> None:
    now = ctx.clock()
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        await _touch(ctx, uow, station_id, seen_at, tx.ocpp_version, now)
        pending = held(uow)
        kept = pending.get((station_id, tx.transaction_id)) if pending is not None else None
        if kept is not None and await append(ctx, uow, kept, tx, now):  # the flood's common case
            await uow.commit()
            return
        before = kept.current if kept else await uow.sessions.by_transaction(station_id, tx.transaction_id)
        if (
            before is not None
            and tx.seq_no is not None
            and not await uow.sessions.first_seq(before.session_id, tx.seq_no)
        ):
            await uow.commit()  # the same 2.x message again (the station resent it): nothing changes
            return
        merged = merge(before, tx, now) if pending is not None and before is not None else None
        if merged is not None and before is not None and foldable(ctx, before, merged, tx, now):
            await _fold(ctx, uow, kept or before, merged, tx, now)
            await uow.commit()
            return
        if (
            merged is not None
            and before is not None
            and due_foldable(ctx, before, merged, tx, now)
            and await announce_and_hold(ctx, uow, kept, before, merged, tx, now)
        ):
            await uow.commit()
            return
        if pending:
            await flush(ctx, uow, station_id)  # what the batch holds of this station is stored first
            if kept is not None:
                before = await uow.sessions.by_transaction(station_id, tx.transaction_id)
        session = merge(before, tx, now) if before else open_session(ctx.new_id(), station_id, tx, now)
        if before is None and tx.seq_no is not None:
            await uow.sessions.first_seq_of_new(session.session_id, tx.seq_no)
        readings, problems = readings_from(tx.meter_values)
        await uow.readings.add(session.session_id, readings)
        session = session.with_problems(problems)
        state = state_from_charging_state(tx.charging_state)
        if state is not None and tx.charging_state:
            await uow.states.add(station_id, session.bay, as_utc(tx.timestamp), "tx", state, tx.charging_state)
        fresh = before is None or (before.id_token is None and session.id_token is not None)
        session = await _link_remote_start(ctx, uow, session, fresh)
        folded = fold(ctx, session, readings, now) if before is not None else None
        # A new session, or an open one without any stored reading (its last recompute counted none, and
        # what this batch held of the station was stored above): its readings are this message's.
        alone = ctx.fold_readings and (before is None or (before.active and before.last_reading_at is None))
        session, derived = await recompute(
            ctx,
            uow,
            session,
            now,
            None if folded is None else (folded, readings),
            readings if alone else None,
            with_periods=False,
        )
        session = announce(ctx, uow, before, session, derived, now)
        await (uow.sessions.add(session) if before is None else uow.sessions.save(session))
        if before is None and tx.kind != "ended" and not tx.offline and (tx.evse_id, tx.connector_id) != (None, None):
            await end_superseded(ctx, uow, session, now)
        await uow.commit()


async def record_refusal(
    ctx: SessionContext, station_id: str, event_id: UUID, seen_at: datetime, refused: TransactionRefused
) -> None:
    """The CSMS refused the token of a transaction: its session ends (NotAuthorized) unless already ended."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        await _touch(ctx, uow, station_id, seen_at, refused.ocpp_version, now)
        await flush(ctx, uow, station_id)
        session = await uow.sessions.by_transaction(station_id, refused.transaction_id)
        if session is not None:
            await end_refused(ctx, uow, session, refused.status, now)
        await uow.commit()


async def record_status(
    ctx: SessionContext, station_id: str, event_id: UUID, seen_at: datetime, status: ConnectorStatus
) -> None:
    """A connector status: a charging-state observation that may fall into (even ended) sessions."""
    now = ctx.clock()
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        await _touch(ctx, uow, station_id, seen_at, status.ocpp_version, now)
        state = state_from_status(status.ocpp_version, status.status)
        if state is not None:
            at = as_utc(status.timestamp or seen_at)
            bay = bay_of(status.ocpp_version, status.evse_id, status.connector_id)
            pending = held(uow)
            # A held session due an update is announced from its running totals, compared with its figures
            # as its last message left them (taken before this observation); without exact totals, what the
            # batch holds of the station is stored first, as it was before this observation.
            left: dict[str, Session] = {}
            for p in held_of(uow, station_id) if pending else ():
                if not holdable(ctx, p.stable, now):
                    last = await as_left(ctx, uow, p)
                    if last is None:
                        await flush(ctx, uow, station_id)
                        left.clear()
                        break
                    left[p.current.session_id] = last
            await uow.states.add(station_id, bay, at, "status", state, status.status)
            for before in await uow.sessions.covering(station_id, bay, at, START_LOOKBACK):
                kept = pending.get((station_id, before.transaction_id)) if pending is not None else None
                current = kept.stable if kept else before
                if pending is not None and holdable(ctx, current, now):
                    hold(ctx, uow, kept or before, current, now)  # recomputed once, when the batch ends
                    continue
                current = kept.current if kept else before
                if kept is not None and current.session_id in left:
                    done = fold(ctx, current, kept.readings, now)
                    assert done is not None  # as `as_left` found
                    await announce_held(ctx, uow, left[current.session_id], current, (done, kept.readings), now)
                    continue
                if pending is not None and kept is None and current.active and current.start_seen:
                    done = fold(ctx, before, (), now)
                    if done is not None:  # as stored: announced from its totals, then held
                        await announce_held(ctx, uow, before, before, (done, ()), now)
                        continue
                folded = fold(ctx, before, (), now)  # no new reading: the running totals stand
                # An open session that counted no reading yet has none stored: nothing to read back.
                none = ctx.fold_readings and before.active and before.last_reading_at is None
                session, derived = await recompute(
                    ctx,
                    uow,
                    before,
                    now,
                    None if folded is None else (folded, ()),
                    () if none and folded is None else None,
                    with_periods=False,
                )
                session = announce(ctx, uow, before, session, derived, now)
                await uow.sessions.save(session)
        await uow.commit()


async def record_presence(
    ctx: SessionContext,
    station_id: str,
    event_id: UUID,
    seen_at: datetime,
    *,
    ocpp_version: str | None,
    connected: bool | None,
    booted: bool = False,
) -> None:
    """Any other station event: the station is alive (and, for connects/boots, speaks this version).

    A boot means the station restarted: its active sessions are in doubt until it speaks of them again.
    """
    now = ctx.clock()
    async with ctx.uow() as uow:
        if not await uow.inbox.first_time(CONSUMER, event_id):
            return
        await _touch(ctx, uow, station_id, seen_at, ocpp_version, now)
        if connected is not None:
            await uow.stations.presence(station_id, connected=connected, at=seen_at)
        if booted:
            await flush(ctx, uow, station_id)
            await uow.sessions.mark_rebooted(station_id, now)
        await uow.commit()
