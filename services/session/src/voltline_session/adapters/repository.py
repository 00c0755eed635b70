"""Sessions in the database, as domain objects."""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass, field, fields
from datetime import datetime
from typing import Any

from sqlalchemy import Executable, Result, Select, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_events import Envelope
from voltline_store import Batch, current_batch, rowcount

from voltline_session.adapters.driver_sql import insert_many, update_many
from voltline_session.adapters.orm import seq_nos, sessions, stations
from voltline_session.domain.session import Session
from voltline_session.service_layer.ports import SessionFilter

__all__ = ["SessionFilter", "SessionRepository", "insert_for"]  # SessionFilter: its old home

_FIELDS = [f.name for f in fields(Session)]


def insert_for(session: AsyncSession, table: Any) -> postgresql.Insert | sqlite.Insert:
    """An INSERT that can say ON CONFLICT DO NOTHING on both PostgreSQL and SQLite."""
    dialect = session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(table)


def _to_row(s: Session) -> dict[str, Any]:
    row = {name: getattr(s, name) for name in _FIELDS}
    row.update(bay=s.bay, anomalies=list(s.anomalies), problems=list(s.problems))
    return row


_COLUMNS = (*_FIELDS, "bay")  # every column of a session's row
_SAVED = tuple(name for name in _COLUMNS if name != "session_id")  # every column `save` writes
# Built once: a statement given its values as parameters is compiled once (cached), not once per call.
_INSERT = sessions.insert()
_UPDATE = (
    update(sessions).where(sessions.c.session_id == bindparam("_id")).values({name: bindparam(name) for name in _SAVED})
)
_BAY_FROM = frozenset(("ocpp_version", "evse_id", "connector_id"))  # what the `bay` column derives from


def _changed(s: Session, stored: Session | None) -> tuple[str, ...]:
    """The columns of `s` that differ from its stored row (all of them when that row is not known)."""
    if stored is None:
        return _SAVED
    new, old = s.__dict__, stored.__dict__
    names = tuple(name for name in _SAVED[:-1] if new[name] is not old[name] and new[name] != old[name])
    return (*names, "bay") if _BAY_FROM.intersection(names) else names


_FIELD_SET = frozenset(_FIELDS)


def _from_row(row: Any) -> Session:
    data = {name: value for name, value in zip(row._fields, row, strict=True) if name in _FIELD_SET}
    data.update(anomalies=tuple(data["anomalies"] or ()), problems=tuple(data["problems"] or ()))
    return Session.from_fields(data)


def _filtered(query: Select[Any], where: SessionFilter) -> Select[Any]:
    c = sessions.c
    conditions = [
        column == value
        for column, value in (
            (c.station_id, where.station_id),
            (c.status, where.status),
            (c.driver_id, where.driver_id),
            (c.id_token, where.id_token),
            (c.suspect, where.suspect),
        )
        if value is not None
    ]
    if where.driver_or_id_token is not None:
        driver_id, id_token = where.driver_or_id_token
        mine = c.driver_id == driver_id
        if id_token is not None:
            mine = or_(mine, and_(c.driver_id.is_(None), func.upper(c.id_token) == id_token.upper()))
        conditions.append(mine)
    if where.started_from is not None:
        conditions.append(c.started_at >= where.started_from)
    if where.started_to is not None:
        conditions.append(c.started_at < where.started_to)
    return query.where(*conditions)


_LIVE = "session.live"
_NEW = "session.new"
"""Batch memo key: the sessions this batch created and has not inserted yet (session id -> the session as it
now is), with their 2.x seqNos (`_NEW_SEQ_NOS`): inserted together, at the batch's commit or before the first
statement that is not declared `id_only` (`SessionRepository._execute`, ADR 0040)."""
_NEW_SEQ_NOS = "session.new_seq_nos"
NEW_STATIONS = "session.stations_new"
"""Batch memo key: the stations this batch heard first (no row before it, so no sessions either: a session's
row is only written after its station's)."""


def _floor(envelopes: Sequence[Envelope]) -> datetime | None:
    """The earliest instant the batch's events speak of (status timestamps included); None if unknown."""
    instants = [e.time for e in envelopes]
    for e in envelopes:
        if e.type == "station.connector_status" and isinstance(e.payload.get("timestamp"), str):
            try:
                at = datetime.fromisoformat(e.payload["timestamp"].replace("Z", "+00:00"))
            except ValueError:
                continue
            if at.tzinfo is not None:
                instants.append(at)
    try:
        return min(instants) if instants else None
    except TypeError:  # a naive instant among aware ones: no floor, every lookup asks the database
        return None


@dataclass
class _Live:
    """Inside a consumer batch: the sessions of the batch's stations that are open, suspect or ended after
    `floor`, as stored, read (and locked) in one query instead of one `by_transaction`/`covering` query per
    event. A station whose sessions this batch wrote is read again (`dirty`) before it is answered from here."""

    floor: datetime
    by_station: dict[str, builtins.list[Session]]
    dirty: set[str]
    loaded: bool = False
    # Stations read again after the batch wrote their sessions: their copy lacks what ended before `floor`.
    reloaded: set[str] = field(default_factory=set)


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    def _batch(self) -> Batch | None:
        batch = current_batch()
        return batch if batch is not None and batch.session is self._db else None

    async def _execute(self, statement: Executable, parameters: Any = None, *, id_only: bool = False) -> Result[Any]:
        """Every statement of the repository goes through here (or `_execute_many`): the batch's new sessions are
        inserted first (ADR 0040, 0044), so that no statement, one added later included, finds, misses or changes
        other rows than the events one by one would. `id_only`: the statement reads or writes only rows of sessions
        already stored, by their id (or is that insert itself), so it may run before them."""
        if not id_only:
            await self._insert_new()
        return await self._db.execute(statement, parameters)

    async def _execute_many(self, write: Callable[..., Awaitable[bool]], *args: Any, id_only: bool = False) -> bool:
        """`driver_sql.insert_many` / `update_many` (`write`) through the same gate as `_execute`."""
        if not id_only:
            await self._insert_new()
        return await write(self._db, *args)

    async def _live(self, station_id: str) -> tuple[_Live, builtins.list[Session]] | None:
        """This batch's stored sessions of the station that could matter (see `_Live`); None outside a batch."""
        batch = self._batch()
        if batch is None:
            return None
        live: _Live | None = batch.memo.get(_LIVE)
        if live is None:
            floor = _floor(batch.envelopes)
            if floor is None:
                return None
            ids = sorted({e.station_id for e in batch.envelopes if e.station_id})
            live = batch.memo[_LIVE] = _Live(floor, {}, set(ids))
        if station_id not in live.by_station and station_id not in live.dirty:
            return None  # not one of the batch's stations
        if live.dirty:
            await self._load(live)
        return live, live.by_station[station_id]

    async def _load(self, live: _Live) -> None:
        c = sessions.c
        ids = sorted(live.dirty)
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            query = select(sessions).where(
                c.station_id.in_(chunk), or_(c.ended_at.is_(None), c.ended_at > live.floor, c.suspect.is_(True))
            )
            live.by_station.update((sid, []) for sid in chunk)
            for row in await self._execute(query.with_for_update()):
                live.by_station[row.station_id].append(_from_row(row))
        if live.loaded:
            live.reloaded.update(ids)
        live.loaded = True
        live.dirty.clear()

    def _stored(self, saved: Session) -> None:
        """This session's row is now `saved` (all its columns): the batch's copy follows without a read."""
        batch = self._batch()
        live: _Live | None = batch.memo.get(_LIVE) if batch is not None else None
        if live is None or saved.station_id in live.dirty or saved.station_id not in live.by_station:
            return
        rows = live.by_station[saved.station_id]
        for i, s in enumerate(rows):
            if s.session_id == saved.session_id:
                rows[i] = saved
                return
        rows.append(saved)

    def _new_station(self, station_id: str) -> bool:
        """Whether this batch heard first of the station (it had no row, so no sessions before the batch)."""
        batch = self._batch()
        return batch is not None and station_id in batch.memo.get(NEW_STATIONS, ())

    def _wrote(self, station_id: str | None) -> None:
        """Sessions of this station (None: of any) changed in the store: the batch reads them again."""
        batch = self._batch()
        live: _Live | None = batch.memo.get(_LIVE) if batch is not None else None
        if live is None:
            return
        if station_id is None:
            live.dirty.update(live.by_station)
        elif station_id in live.by_station:
            live.dirty.add(station_id)

    async def get(self, session_id: str, *, for_update: bool = False) -> Session | None:
        # By id, but the session may be one of the batch's new ones: not `id_only`.
        query = select(sessions).where(sessions.c.session_id == session_id)
        row = (await self._execute(query.with_for_update() if for_update else query)).first()
        return _from_row(row) if row else None

    async def by_transaction(self, station_id: str, transaction_id: str) -> Session | None:
        live = await self._live(station_id)
        for s in live[1] if live is not None else ():
            if s.transaction_id == transaction_id:
                return s
        if live is not None and station_id not in live[0].reloaded and self._new_station(station_id):
            # A station this batch heard first had no sessions: the copy, read at the batch's first lookup and
            # kept by the batch's own writes since, holds every session it has.
            return None
        query = select(sessions).where(sessions.c.station_id == station_id, sessions.c.transaction_id == transaction_id)
        row = (await self._execute(query.with_for_update())).first()
        return _from_row(row) if row else None

    async def add(self, s: Session) -> None:
        batch = self._batch()
        if batch is None:
            await self._execute(_INSERT, _to_row(s))  # values as parameters: the statement compiles once
        else:  # inserted with the batch's other new sessions, in one executemany
            batch.memo.setdefault(_NEW, {})[s.session_id] = s
            batch.before_commit(_NEW, self._insert_new)
        self._stored(s)

    def _unwritten(self) -> dict[str, Session]:
        """The sessions this batch created and has not inserted yet (empty outside a batch)."""
        batch = self._batch()
        new: dict[str, Session] | None = batch.memo.get(_NEW) if batch is not None else None
        return new or {}

    async def _insert_new(self) -> None:
        """Insert the sessions this batch created (as they now are) and their seqNos: before any statement
        that is not `id_only` (`_execute`), else at the batch's commit."""
        batch = self._batch()
        if batch is None or (_NEW not in batch.memo and _NEW_SEQ_NOS not in batch.memo):
            return
        new: dict[str, Session] = batch.memo.pop(_NEW, {})
        numbers: dict[str, set[int]] = batch.memo.pop(_NEW_SEQ_NOS, {})
        # Every column, in `_COLUMNS` order (the JSON lists as tuples: the same JSON, as `save_many` writes them).
        rows = [(*[s.__dict__[name] for name in _FIELDS], s.bay) for s in new.values()]
        if rows and not await self._execute_many(insert_many, sessions, _COLUMNS, rows, id_only=True):
            await self._execute(_INSERT, [_to_row(s) for s in new.values()], id_only=True)
        seqs = [(sid, n) for sid, ns in numbers.items() for n in sorted(ns)]
        if seqs and not await self._execute_many(insert_many, seq_nos, ("session_id", "seq_no"), seqs, id_only=True):
            await self._execute(seq_nos.insert(), [{"session_id": sid, "seq_no": n} for sid, n in seqs], id_only=True)

    async def save(self, s: Session) -> None:
        if self._batch() is not None:  # inside a batch: only the columns that differ from the row it read
            await self.save_many([s])
            return
        await self._save_all(s)

    async def _save_all(self, s: Session) -> None:
        """Every column, through SQLAlchemy."""
        row = _to_row(s)
        row["_id"] = row.pop("session_id")
        await self._execute(_UPDATE, row, id_only=True)  # by id: a batch's new session stays in `save_many`
        self._stored(s)

    async def list(self, where: SessionFilter, *, limit: int, offset: int) -> list[Session]:
        query = _filtered(select(sessions), where).order_by(sessions.c.started_at.desc(), sessions.c.session_id)
        return [_from_row(row) for row in await self._execute(query.limit(limit).offset(offset))]

    async def covering(self, station_id: str, bay: int, at: datetime, lookback: Any) -> builtins.list[Session]:
        """Sessions on a bay whose window (from a little before the start) contains `at`, for update."""
        live = await self._live(station_id)
        if live is not None and at >= live[0].floor:
            return [
                s
                for s in live[1]
                if s.bay == bay and s.started_at <= at + lookback and (s.ended_at is None or s.ended_at > at)
            ]
        c = sessions.c
        query = select(sessions).where(
            c.station_id == station_id,
            c.bay == bay,
            c.started_at <= at + lookback,
            or_(c.ended_at.is_(None), c.ended_at > at),
        )
        return [_from_row(row) for row in await self._execute(query.with_for_update())]

    async def first_seq(self, session_id: str, seq_no: int) -> bool:
        """Record a 2.x seqNo; False when this transaction's message with that number was already applied."""
        batch = self._batch()
        if batch is not None:
            if self._unwritten_seq_nos(batch, session_id):  # a session not inserted yet: its seqNos go with it
                numbers: set[int] = batch.memo.setdefault(_NEW_SEQ_NOS, {}).setdefault(session_id, set())
                if seq_no in numbers:
                    return False
                numbers.add(seq_no)
                return True
            batch.memo.pop("session.seq_nos", None)
        stmt = insert_for(self._db, seq_nos).values(session_id=session_id, seq_no=seq_no).on_conflict_do_nothing()
        return rowcount(await self._execute(stmt, id_only=True)) == 1  # a session not in the batch's memory

    async def first_seq_of_new(self, session_id: str, seq_no: int) -> None:
        """The seqNo of the message that creates the session: inside a batch, inserted with the session."""
        batch = self._batch()
        if batch is None:
            await self.first_seq(session_id, seq_no)
            return
        batch.memo.setdefault(_NEW_SEQ_NOS, {})[session_id] = {seq_no}
        batch.before_commit(_NEW, self._insert_new)

    @staticmethod
    def _unwritten_seq_nos(batch: Batch, session_id: str) -> bool:
        """Whether the session's seqNos are all in the batch's memory (it was created by the batch and not
        inserted yet)."""
        return session_id in batch.memo.get(_NEW_SEQ_NOS, ()) or session_id in batch.memo.get(_NEW, ())

    async def seen_seq_nos(self, session_id: str) -> set[int]:
        batch = self._batch()
        if batch is not None and self._unwritten_seq_nos(batch, session_id):
            return set(batch.memo.get(_NEW_SEQ_NOS, {}).get(session_id, ()))
        prefetched = batch.memo.get("session.seq_nos") if batch is not None else None
        if prefetched is not None and session_id in prefetched:
            return set(prefetched[session_id])
        query = select(seq_nos.c.seq_no).where(seq_nos.c.session_id == session_id)
        return set((await self._execute(query, id_only=True)).scalars())

    async def prefetch_seq_nos(self, session_ids: Collection[str]) -> None:
        """Inside a batch: the seqNos of these sessions in one query, for the `seen_seq_nos` calls to come."""
        batch = self._batch()
        if batch is None or not session_ids:
            return
        # Sessions not inserted yet: `seen_seq_nos` answers them from the batch's memory.
        found: dict[str, set[int]] = {sid: set() for sid in session_ids if not self._unwritten_seq_nos(batch, sid)}
        ids = sorted(found)
        for start in range(0, len(ids), 500):
            query = select(seq_nos.c.session_id, seq_nos.c.seq_no).where(
                seq_nos.c.session_id.in_(ids[start : start + 500])
            )
            for row in await self._execute(query, id_only=True):  # sessions not in the batch's memory
                found[row.session_id].add(row.seq_no)
        batch.memo["session.seq_nos"] = found

    async def save_many(self, saved: Sequence[Session]) -> None:
        """Several sessions' rows in one driver executemany: inside a batch, only the columns in which some of
        them differ from their rows as the batch read (and locked) them (in the flood: energy, power, times,
        running totals), not all fifty. A session the batch created and has not inserted yet is only kept, as
        it now is, for its insert."""
        new = self._unwritten()
        if new and any(s.session_id in new for s in saved):
            for s in saved:
                if s.session_id in new:
                    new[s.session_id] = s
                    self._stored(s)
            saved = [s for s in saved if s.session_id not in new]
        changed: set[str] = set()
        for s in saved:
            changed.update(_changed(s, self._as_stored(s)))
            if len(changed) == len(_SAVED):
                break
        if not changed:
            return  # every row is stored as it is
        names = tuple(name for name in _SAVED if name in changed)
        rows = [(*(s.bay if name == "bay" else s.__dict__[name] for name in names), s.session_id) for s in saved]
        if not await self._execute_many(update_many, sessions, "session_id", names, rows, id_only=True):
            for s in saved:  # a driver whose parameter style we don't know: SQLAlchemy, every column
                await self._save_all(s)
            return
        for s in saved:
            self._stored(s)

    def _as_stored(self, s: Session) -> Session | None:
        """The batch's copy of this session's row as stored (read and locked, kept current by its own
        writes); None when the batch holds none that is current."""
        batch = self._batch()
        live: _Live | None = batch.memo.get(_LIVE) if batch is not None else None
        if live is None or s.station_id in live.dirty:
            return None
        for stored in live.by_station.get(s.station_id, ()):
            if stored.session_id == s.session_id:
                return stored
        return None

    async def unannounced_ends(self, recorded_before: datetime, limit: int = 100) -> builtins.list[Session]:
        """Ended sessions held back (waiting for the rest of a backlog) since before `recorded_before`."""
        c = sessions.c
        query = (
            select(sessions)
            .where(c.status == "completed", c.revision == 0, c.end_recorded_at < recorded_before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_from_row(row) for row in await self._execute(query)]

    async def mark_suspect(self, silent_since: datetime, now: datetime) -> int:
        """Flag active sessions whose station said nothing since `silent_since`."""
        silent = select(stations.c.station_id).where(stations.c.last_seen_at < silent_since)
        stmt = (
            update(sessions)
            .where(sessions.c.status == "active", sessions.c.suspect.is_(False), sessions.c.station_id.in_(silent))
            .values(suspect=True, suspect_since=now)
        )
        self._wrote(None)
        return rowcount(await self._execute(stmt))

    async def clear_suspect(self, station_id: str) -> None:
        """Inside a batch, asked once per station: `recording._touch` remembers which stations it cleared."""
        live = await self._live(station_id)
        if live is not None and not any(s.suspect for s in live[1]):
            return  # the batch read every suspect session of its stations: none of this one's
        self._wrote(station_id)
        stmt = (
            update(sessions)
            .where(and_(sessions.c.station_id == station_id, sessions.c.suspect.is_(True)))
            .values(suspect=False, suspect_since=None)
        )
        await self._execute(stmt)

    async def count_active(self) -> int:
        """Sessions charging now, for the `voltline_sessions_active` gauge."""
        query = select(func.count()).select_from(sessions).where(sessions.c.status == "active")
        return int((await self._execute(query)).scalar_one())

    async def _none_active(self, station_id: str, bay: int | None = None) -> bool:
        """Inside a batch: the batch's copy of the station's open sessions (read and locked, kept current)
        shows no active one (on `bay`): the statement that would look for them can be skipped."""
        live = await self._live(station_id)
        return live is not None and not any(s.active and (bay is None or s.bay == bay) for s in live[1])

    async def active_on_bay(self, station_id: str, bay: int) -> builtins.list[Session]:
        live = await self._live(station_id)
        if live is not None:  # the batch's copy holds every open session of the station, read and locked
            return [s for s in live[1] if s.active and s.bay == bay]
        c = sessions.c
        query = select(sessions).where(c.station_id == station_id, c.bay == bay, c.status == "active")
        return [_from_row(row) for row in await self._execute(query.with_for_update())]

    async def mark_rebooted(self, station_id: str, now: datetime) -> int:
        """The station rebooted: its active sessions are in doubt until it speaks of them again."""
        if await self._none_active(station_id):
            return 0
        c = sessions.c
        stmt = (
            update(sessions)
            .where(c.station_id == station_id, c.status == "active")
            .values(doubt="rebooted", doubt_since=now, checked_at=None)
        )
        self._wrote(station_id)
        return rowcount(await self._execute(stmt))

    async def mark_silent(self, heard_before: datetime, now: datetime) -> int:
        """Active sessions whose transaction nothing was heard of since `heard_before` are in doubt."""
        c = sessions.c
        stmt = (
            update(sessions)
            .where(
                c.status == "active",
                c.doubt.is_(None),
                or_(c.heard_at < heard_before, and_(c.heard_at.is_(None), c.updated_at < heard_before)),
            )
            .values(doubt="silent", doubt_since=now, checked_at=None)
        )
        self._wrote(None)
        return rowcount(await self._execute(stmt))

    async def unchecked_doubts(self, now: datetime, limit: int) -> builtins.list[Session]:
        """Sessions in doubt the station was not asked about yet; marked as asked now."""
        c = sessions.c
        query = (
            select(sessions)
            .where(c.status == "active", c.doubt.is_not(None), c.checked_at.is_(None))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        found = [_from_row(row) for row in await self._execute(query)]
        if found:
            ids = [s.session_id for s in found]
            await self._execute(update(sessions).where(c.session_id.in_(ids)).values(checked_at=now))
            self._wrote(None)
        return found

    async def expired_doubts(self, doubted_before: datetime, limit: int) -> builtins.list[Session]:
        c = sessions.c
        query = (
            select(sessions)
            .where(c.status == "active", c.doubt.is_not(None), c.doubt_since < doubted_before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_from_row(row) for row in await self._execute(query)]
