"""Sessions in the database, as domain objects."""

from __future__ import annotations

import builtins
from collections.abc import Collection, Sequence
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, bindparam, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import current_batch, rowcount

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


def _from_row(row: Any) -> Session:
    data = {name: row._mapping[name] for name in _FIELDS}
    data.update(anomalies=tuple(data["anomalies"] or ()), problems=tuple(data["problems"] or ()))
    return Session(**data)


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


class SessionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def get(self, session_id: str, *, for_update: bool = False) -> Session | None:
        query = select(sessions).where(sessions.c.session_id == session_id)
        row = (await self._db.execute(query.with_for_update() if for_update else query)).first()
        return _from_row(row) if row else None

    async def by_transaction(self, station_id: str, transaction_id: str) -> Session | None:
        query = select(sessions).where(sessions.c.station_id == station_id, sessions.c.transaction_id == transaction_id)
        row = (await self._db.execute(query.with_for_update())).first()
        return _from_row(row) if row else None

    async def add(self, s: Session) -> None:
        await self._db.execute(sessions.insert().values(**_to_row(s)))

    async def save(self, s: Session) -> None:
        row = _to_row(s)
        del row["session_id"]
        await self._db.execute(update(sessions).where(sessions.c.session_id == s.session_id).values(**row))

    async def list(self, where: SessionFilter, *, limit: int, offset: int) -> list[Session]:
        query = _filtered(select(sessions), where).order_by(sessions.c.started_at.desc(), sessions.c.session_id)
        return [_from_row(row) for row in await self._db.execute(query.limit(limit).offset(offset))]

    async def covering(self, station_id: str, bay: int, at: datetime, lookback: Any) -> builtins.list[Session]:
        """Sessions on a bay whose window (from a little before the start) contains `at`, for update."""
        c = sessions.c
        query = select(sessions).where(
            c.station_id == station_id,
            c.bay == bay,
            c.started_at <= at + lookback,
            or_(c.ended_at.is_(None), c.ended_at > at),
        )
        return [_from_row(row) for row in await self._db.execute(query.with_for_update())]

    async def first_seq(self, session_id: str, seq_no: int) -> bool:
        """Record a 2.x seqNo; False when this transaction's message with that number was already applied."""
        batch = current_batch()
        if batch is not None and batch.session is self._db:
            batch.memo.pop("session.seq_nos", None)
        stmt = insert_for(self._db, seq_nos).values(session_id=session_id, seq_no=seq_no).on_conflict_do_nothing()
        return rowcount(await self._db.execute(stmt)) == 1

    async def seen_seq_nos(self, session_id: str) -> set[int]:
        batch = current_batch()
        prefetched = batch.memo.get("session.seq_nos") if batch is not None and batch.session is self._db else None
        if prefetched is not None and session_id in prefetched:
            return set(prefetched[session_id])
        query = select(seq_nos.c.seq_no).where(seq_nos.c.session_id == session_id)
        return set((await self._db.execute(query)).scalars())

    async def prefetch_seq_nos(self, session_ids: Collection[str]) -> None:
        """Inside a batch: the seqNos of these sessions in one query, for the `seen_seq_nos` calls to come."""
        batch = current_batch()
        if batch is None or batch.session is not self._db or not session_ids:
            return
        found: dict[str, set[int]] = {sid: set() for sid in session_ids}
        ids = sorted(found)
        for start in range(0, len(ids), 500):
            query = select(seq_nos.c.session_id, seq_nos.c.seq_no).where(
                seq_nos.c.session_id.in_(ids[start : start + 500])
            )
            for row in await self._db.execute(query):
                found[row.session_id].add(row.seq_no)
        batch.memo["session.seq_nos"] = found

    async def save_many(self, saved: Sequence[Session]) -> None:
        """Several sessions' rows in one executemany."""
        if len(saved) <= 1:
            for s in saved:
                await self.save(s)
            return
        rows = []
        for s in saved:
            row = _to_row(s)
            row["_id"] = row.pop("session_id")
            rows.append(row)
        columns = [name for name in rows[0] if name != "_id"]
        stmt = (
            update(sessions)
            .where(sessions.c.session_id == bindparam("_id"))
            .values({name: bindparam(name) for name in columns})
        )
        await self._db.execute(stmt, rows)

    async def unannounced_ends(self, recorded_before: datetime, limit: int = 100) -> builtins.list[Session]:
        """Ended sessions held back (waiting for the rest of a backlog) since before `recorded_before`."""
        c = sessions.c
        query = (
            select(sessions)
            .where(c.status == "completed", c.revision == 0, c.end_recorded_at < recorded_before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_from_row(row) for row in await self._db.execute(query)]

    async def mark_suspect(self, silent_since: datetime, now: datetime) -> int:
        """Flag active sessions whose station said nothing since `silent_since`."""
        silent = select(stations.c.station_id).where(stations.c.last_seen_at < silent_since)
        stmt = (
            update(sessions)
            .where(sessions.c.status == "active", sessions.c.suspect.is_(False), sessions.c.station_id.in_(silent))
            .values(suspect=True, suspect_since=now)
        )
        return rowcount(await self._db.execute(stmt))

    async def clear_suspect(self, station_id: str) -> None:
        batch = current_batch()
        if batch is not None and batch.session is self._db:
            if ("session.suspect_cleared", station_id) in batch.memo:
                return  # once per station per consumer batch
            batch.memo[("session.suspect_cleared", station_id)] = True
        stmt = (
            update(sessions)
            .where(and_(sessions.c.station_id == station_id, sessions.c.suspect.is_(True)))
            .values(suspect=False, suspect_since=None)
        )
        await self._db.execute(stmt)

    async def count_active(self) -> int:
        """Sessions charging now, for the `voltline_sessions_active` gauge."""
        query = select(func.count()).select_from(sessions).where(sessions.c.status == "active")
        return int((await self._db.execute(query)).scalar_one())

    async def active_on_bay(self, station_id: str, bay: int) -> builtins.list[Session]:
        c = sessions.c
        query = select(sessions).where(c.station_id == station_id, c.bay == bay, c.status == "active")
        return [_from_row(row) for row in await self._db.execute(query.with_for_update())]

    async def mark_rebooted(self, station_id: str, now: datetime) -> int:
        """The station rebooted: its active sessions are in doubt until it speaks of them again."""
        c = sessions.c
        stmt = (
            update(sessions)
            .where(c.station_id == station_id, c.status == "active")
            .values(doubt="rebooted", doubt_since=now, checked_at=None)
        )
        return rowcount(await self._db.execute(stmt))

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
        return rowcount(await self._db.execute(stmt))

    async def unchecked_doubts(self, now: datetime, limit: int) -> builtins.list[Session]:
        """Sessions in doubt the station was not asked about yet; marked as asked now."""
        c = sessions.c
        query = (
            select(sessions)
            .where(c.status == "active", c.doubt.is_not(None), c.checked_at.is_(None))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        found = [_from_row(row) for row in await self._db.execute(query)]
        if found:
            ids = [s.session_id for s in found]
            await self._db.execute(update(sessions).where(c.session_id.in_(ids)).values(checked_at=now))
        return found

    async def expired_doubts(self, doubted_before: datetime, limit: int) -> builtins.list[Session]:
        c = sessions.c
        query = (
            select(sessions)
            .where(c.status == "active", c.doubt.is_not(None), c.doubt_since < doubted_before)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        return [_from_row(row) for row in await self._db.execute(query)]
