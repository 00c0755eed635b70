"""Folding a consumer batch's messages of one session in memory, recomputed and written once.

Per event, a MeterValues message cost a locked read of its session, a full recompute from every
stored reading and a write. Inside a consumer batch (ADR 0008) the messages that only add readings
or observations to an active session whose start was seen (the flood) are merged into the session in
memory instead; the session is recomputed, announced and saved once, when the batch commits, or as
soon as a message that needs its stored state (an end, a refusal, a reboot, ...) comes for the station.
The fold is exact: `merge` reads none of the figures `recompute` derives for such a session,
recompute derives them from all stored facts anyway, and a session is only held while no
`session.updated` is due (so the one-by-one run would have announced nothing either); the final
recompute uses the clock of the last message it folded, as the one-by-one run's last recompute did.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from voltline_events.payloads import StationTransaction

from voltline_session.domain.meter import Reading
from voltline_session.domain.periods import START_LOOKBACK
from voltline_session.domain.session import Session
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.ledger import announce, fold, recompute, update_due
from voltline_session.service_layer.unit_of_work import SessionUnitOfWork

_PENDING = "session.pending"
_BY_STATION = "session.pending.by_station"  # station id -> keys it has in _PENDING


@dataclass
class Pending:
    before: Session  # as stored when the batch first read it: what the announcement compares with
    current: Session  # with the batch's messages merged, not yet recomputed
    now: datetime  # our clock at the last message folded in
    readings: list[Reading] = field(default_factory=list)  # the batch's new readings of it, in arrival order


Held = dict[tuple[str, str], Pending]


def held(uow: SessionUnitOfWork) -> Held | None:
    """The sessions this batch holds in memory, by (station, transaction); None outside a batch."""
    memo = uow.batch_memo
    if memo is None:
        return None
    pending: Held = memo.setdefault(_PENDING, {})
    return pending


def held_of(uow: SessionUnitOfWork, station_id: str) -> list[Pending]:
    """What the batch holds of one station (without looking at every held session)."""
    pending = held(uow)
    if not pending:
        return []
    by_station: dict[str, dict[tuple[str, str], None]] = uow.batch_memo.get(_BY_STATION, {})  # type: ignore[union-attr]
    return [pending[key] for key in by_station.get(station_id, ()) if key in pending]


def holdable(ctx: SessionContext, session: Session, now: datetime) -> bool:
    """An active, started session whose change now would announce nothing (no update due)."""
    return session.active and session.start_seen and not update_due(ctx, session, now)


def foldable(ctx: SessionContext, before: Session, merged: Session, tx: StationTransaction, now: datetime) -> bool:
    """A message that only adds facts to a holdable session (no end, no token or remote start news)."""
    return (
        tx.kind == "updated"
        and holdable(ctx, before, now)
        and before.start_seen
        and merged.active
        and merged.id_token == before.id_token
        and merged.remote_start_id is None
    )


def hold(
    ctx: SessionContext,
    uow: SessionUnitOfWork,
    before: Pending | Session,
    session: Session,
    now: datetime,
    readings: Sequence[Reading] = (),
) -> None:
    """Keep `session` in memory until the batch commits (or the station needs it stored)."""
    pending = held(uow)
    assert pending is not None
    if isinstance(before, Pending):
        first, added = before.before, [*before.readings, *readings]
    else:
        first, added = before, list(readings)
    pending[(session.station_id, session.transaction_id)] = Pending(first, session, now, added)
    memo = uow.batch_memo
    assert memo is not None
    memo.setdefault(_BY_STATION, {}).setdefault(session.station_id, {})[
        (session.station_id, session.transaction_id)
    ] = None

    async def flush_all() -> None:
        await flush(ctx, uow)

    uow.before_commit(_PENDING, flush_all)


async def flush(ctx: SessionContext, uow: SessionUnitOfWork, station_id: str | None = None) -> None:
    """Recompute, announce and save the held sessions (of one station, or all)."""
    pending = held(uow)
    if not pending:
        return
    if station_id is None:
        keys = list(pending)
    else:
        by_station: dict[str, dict[tuple[str, str], None]] = uow.batch_memo.get(_BY_STATION, {})  # type: ignore[union-attr]
        keys = [key for key in by_station.get(station_id, {}) if key in pending]
    if not keys:
        return
    items = [pending.pop(key) for key in keys]
    # The batch's readings folded into each session's running totals; the rest read all their readings.
    folded = [fold(ctx, item.current, item.readings, item.now) for item in items]
    ids = [item.current.session_id for item, done in zip(items, folded, strict=True) if done is None]
    # What the recomputes read, in one query each for all of them (not one per session).
    await uow.readings.prefetch(ids)
    await uow.sessions.prefetch_seq_nos(ids)
    await uow.states.prefetch(
        [
            (i.current.station_id, i.current.bay, i.current.started_at - START_LOOKBACK)
            for i, done in zip(items, folded, strict=True)
            if done is None
        ]
    )
    await uow.states.prefetch_newest(
        [(i.current.station_id, i.current.bay) for i, done in zip(items, folded, strict=True) if done is not None]
    )
    saved = []
    for item, done in zip(items, folded, strict=True):
        session, derived = await recompute(
            ctx, uow, item.current, item.now, None if done is None else (done, item.readings)
        )
        saved.append(announce(ctx, uow, item.before, session, derived, item.now))
    await uow.sessions.save_many(saved)
