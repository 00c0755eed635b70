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
A message that finds an update due (`due_foldable`: in production, where an update is due every minute
and MeterValues come every 10-60 s, the common case) is announced from the running totals and the
session is then held like the others (`announce_and_hold`): still one save per session per batch.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from voltline_events.payloads import StationTransaction

from voltline_session.domain.meter import Reading, as_utc, readings_from
from voltline_session.domain.periods import START_LOOKBACK, state_from_charging_state
from voltline_session.domain.session import Session, goes_on, newest, went_on
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.ledger import Folded, announce, fold, recompute, update_due
from voltline_session.service_layer.unit_of_work import SessionUnitOfWork

_PENDING = "session.pending"
_BY_STATION = "session.pending.by_station"  # station id -> keys it has in _PENDING


class Pending:
    """A session the batch holds: `before` as stored when the batch first read it (what the announcement
    compares with), `current` with the batch's messages merged (not yet recomputed), `now` our clock at the
    last message folded in, `readings` the batch's new readings of it in arrival order.

    Messages that only say the transaction goes on (`append`) are not merged one by one: when the session was
    last heard of is kept here and merged in once (`went_on`), when `current` is next read."""

    __slots__ = ("_current", "_heard", "before", "now", "readings")

    def __init__(self, before: Session, current: Session, now: datetime, readings: list[Reading]) -> None:
        self.before, self._current, self.now, self.readings = before, current, now, readings
        self._heard: tuple[datetime, datetime, str | None] | None = None  # now, newest message time, its trigger

    @property
    def current(self) -> Session:
        if self._heard is not None:
            self._current = went_on(self._current, *self._heard)
            self._heard = None
        return self._current

    @current.setter
    def current(self, session: Session) -> None:  # a session made from `current` (or `stable`) as read
        if session is not self._current:
            self._current, self._heard = session, None

    @property
    def stable(self) -> Session:
        """`current` without the pending merge applied: for what that merge leaves alone (status, start, ids,
        bay, due updates). Holding it again (`hold`) keeps the merge pending."""
        return self._current

    def heard(self, tx: StationTransaction, now: datetime) -> None:
        """`tx` (one `goes_on` accepts) merged in, as far as `current` is concerned, when it is next read."""
        last = (
            (self._heard[1], self._heard[2])
            if self._heard
            else (self._current.last_event_at, self._current.trigger_reason)
        )
        self._heard = (now, *newest(*last, tx))
        self.now = now


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


async def append(
    ctx: SessionContext, uow: SessionUnitOfWork, kept: Pending, tx: StationTransaction, now: datetime
) -> bool:
    """The flood's message: readings (and a charging state) for a held session, which merged would only say the
    transaction goes on and which announces nothing (no update due). Its readings are appended and the merge
    waits in `kept` (no copy of the session per message); what is stored and announced is what `foldable`'s
    path gives (an equivalence test compares them). False: not such a message, nothing done."""
    session = kept.stable
    if not (ctx.plain_appends and goes_on(session, tx) and holdable(ctx, session, now)):
        return False
    if tx.seq_no is not None and not await uow.sessions.first_seq(session.session_id, tx.seq_no):
        return True  # the same 2.x message again (the station resent it): nothing changes
    readings, problems = readings_from(tx.meter_values)
    await uow.readings.add(session.session_id, readings)
    state = state_from_charging_state(tx.charging_state)
    if state is not None and tx.charging_state:
        await uow.states.add(session.station_id, session.bay, as_utc(tx.timestamp), "tx", state, tx.charging_state)
    kept.heard(tx, now)
    if problems:
        kept.current = kept.current.with_problems(problems)
    kept.readings.extend(readings)
    return True


def due_foldable(ctx: SessionContext, before: Session, merged: Session, tx: StationTransaction, now: datetime) -> bool:
    """A message that only adds facts to an active, started session that is due a `session.updated`."""
    return (
        tx.kind == "updated"
        and before.active
        and before.start_seen
        and update_due(ctx, before, now)
        and merged.active
        and merged.id_token == before.id_token
        and merged.remote_start_id is None
    )


async def announce_and_hold(
    ctx: SessionContext,
    uow: SessionUnitOfWork,
    kept: Pending | None,
    before: Session,
    merged: Session,
    tx: StationTransaction,
    now: datetime,
) -> bool:
    """Announce a due update from the running totals, then hold the session; False (nothing done) when the
    totals are not exact for it (the caller then stores it the one-by-one way).

    What the one-by-one run compares with is the session as its last message left it: for a held one,
    its held readings folded in and the bay's newest state before this message's observation."""
    readings, problems = readings_from(tx.meter_values)
    earlier = kept.readings if kept is not None else []
    folded = fold(ctx, merged, [*earlier, *readings], now)
    if folded is None:
        return False
    if kept is not None:
        last = await as_left(ctx, uow, kept)
        if last is None:
            return False
        before = last
    await uow.readings.add(merged.session_id, readings)
    state = state_from_charging_state(tx.charging_state)
    if state is not None and tx.charging_state:
        await uow.states.add(merged.station_id, merged.bay, as_utc(tx.timestamp), "tx", state, tx.charging_state)
    await announce_held(ctx, uow, before, merged.with_problems(problems), (folded, [*earlier, *readings]), now)
    return True


async def as_left(ctx: SessionContext, uow: SessionUnitOfWork, kept: Pending) -> Session | None:
    """A held session's figures as its last message left them (what the one-by-one run stored); None when
    the running totals are not exact for it. Call it before adding a new observation of its bay."""
    done = fold(ctx, kept.current, kept.readings, kept.now)
    if done is None:
        return None
    session, _ = await recompute(ctx, uow, kept.current, kept.now, (done, kept.readings))
    return session


async def announce_held(
    ctx: SessionContext,
    uow: SessionUnitOfWork,
    before: Session,
    current: Session,
    folded: tuple[Folded, Sequence[Reading]],
    now: datetime,
) -> None:
    """Recompute `current` from its running totals, announce the change since `before`, hold the result."""
    session, derived = await recompute(ctx, uow, current, now, folded)
    session = announce(ctx, uow, before, session, derived, now)
    # Held from here with its figures (and running totals) as announced: the batch's later readings fold on,
    # and what the batch's end announces is compared with this announcement.
    hold(ctx, uow, session, session, now)


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
    key = (session.station_id, session.transaction_id)
    if isinstance(before, Pending) and pending.get(key) is before:
        # Already held (the flood's common case): it moves on in place, its readings appended.
        before.current, before.now = session, now
        before.readings.extend(readings)
        return
    if isinstance(before, Pending):
        first, added = before.before, [*before.readings, *readings]
        session = before.current if session is before.stable else session  # its pending merge applied
    else:
        first, added = before, list(readings)
    pending[key] = Pending(first, session, now, added)
    memo = uow.batch_memo
    assert memo is not None
    memo.setdefault(_BY_STATION, {}).setdefault(session.station_id, {})[key] = None

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
    # A held session is open: its state is its bay's newest observation (no periods are built for it).
    await uow.states.prefetch(
        [
            (i.current.station_id, i.current.bay, i.current.started_at - START_LOOKBACK)
            for i in items
            if not i.current.active
        ]
    )
    await uow.states.prefetch_newest([(i.current.station_id, i.current.bay) for i in items if i.current.active])
    saved = []
    for item, done in zip(items, folded, strict=True):
        session, derived = await recompute(
            ctx, uow, item.current, item.now, None if done is None else (done, item.readings), with_periods=False
        )
        saved.append(announce(ctx, uow, item.before, session, derived, item.now))
    await uow.sessions.save_many(saved)
