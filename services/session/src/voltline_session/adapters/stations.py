"""Stations as the session service knows them, and remote start requests."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import Batch, current_batch

from voltline_session.adapters.driver_sql import update_many
from voltline_session.adapters.orm import remote_starts, stations
from voltline_session.adapters.repository import NEW_STATIONS, insert_for
from voltline_session.domain.stations import RemoteStart, StationState

_TOUCHED = "session.stations_touched"
_TOUCH_COLUMNS = ("last_seen_at", "ocpp_version", "updated_at")
_PRESENCE = "session.stations_presence"  # stations whose connect/disconnect the batch has not written yet
_PRESENCE_COLUMNS = ("connected", "presence_at")
_AWAITING = "session.remote_starts_awaiting"
_NAMED = "session.stations_named"  # the stations the batch's events name: the prefetch looked for all of them


class StationsRaced(RuntimeError):
    """A station's row appeared while the batch that first heard of it ran (its events go one at a time)."""


def _new_row(station_id: str, seen_at: datetime, ocpp_version: str | None, now: datetime) -> dict[str, Any]:
    """The row a station's first event creates (what `_lock` inserts)."""
    return {
        "station_id": station_id,
        "ocpp_version": ocpp_version,
        "connected": True,
        "presence_at": None,
        "last_seen_at": seen_at,
        "updated_at": now,
    }


def _state(row: dict[str, Any]) -> StationState:
    """A station row as the domain sees it (every event touches its station: no dict built per event)."""
    return StationState(
        row["station_id"], row["ocpp_version"], row["connected"], row["presence_at"], row["last_seen_at"]
    )


def _seen(row: dict[str, Any], seen_at: datetime, ocpp_version: str | None) -> None:
    """A touch of the batch's copy of a station's row: the newest "last seen", the version it speaks now."""
    if seen_at > row["last_seen_at"]:
        row["last_seen_at"] = seen_at
    if ocpp_version and ocpp_version != row["ocpp_version"]:
        row["ocpp_version"] = ocpp_version


def _batch_of(session: AsyncSession) -> Batch | None:
    """The consumer batch this session belongs to, if any."""
    batch = current_batch()
    return batch if batch is not None and batch.session is session else None


class StationRepository:
    """Inside a consumer's batch, a station's "last seen" is read and locked once and written once, at
    the batch's commit, however many of its events the batch holds."""

    def __init__(self, session: AsyncSession) -> None:
        self._db = session
        self._batch = _batch_of(session)

    async def get(self, station_id: str) -> StationState | None:
        pending = self._batch.memo.get(("session.station", station_id)) if self._batch else None
        if pending is not None:  # this batch's locked copy, with what it has not written yet
            return StationState(**{k: v for k, v in pending.items() if k != "updated_at"})
        row = (await self._db.execute(select(stations).where(stations.c.station_id == station_id))).first()
        if row is None:
            return None
        return StationState(**{k: v for k, v in row._mapping.items() if k != "updated_at"})

    async def touch(self, station_id: str, seen_at: datetime, ocpp_version: str | None, now: datetime) -> StationState:
        """The station said something (at `seen_at`); locks its row, so its writes are serialised."""
        batch = self._batch
        if batch is None:
            return await self._touch_now(station_id, seen_at, ocpp_version, now)
        key = ("session.station", station_id)
        row: dict[str, Any] | None = batch.memo.get(key)
        if row is None:
            row = (await self._prefetched()).pop(station_id, None)
            if row is None and station_id in batch.memo[_NAMED]:
                # new to us: its row is inserted with the batch's "last seen"
                row = _new_row(station_id, seen_at, ocpp_version, now)
                batch.memo.setdefault(NEW_STATIONS, set()).add(station_id)
            elif row is None:  # a station none of the batch's events names (the prefetch did not look for it)
                row = await self._lock(station_id, seen_at, ocpp_version, now)
            batch.memo[key] = row
            touched: dict[str, tuple[dict[str, Any], datetime]] = batch.memo.setdefault(_TOUCHED, {})
            touched[station_id] = (row, now)
            batch.before_commit(_TOUCHED, self._write_touched)
        _seen(row, seen_at, ocpp_version)
        return _state(row)

    def seen_again(self, station_id: str, seen_at: datetime, ocpp_version: str | None) -> bool:
        """`touch`'s update of the batch's copy of a row it locked already (the flood's common case)."""
        row: dict[str, Any] | None = self._batch.memo.get(("session.station", station_id)) if self._batch else None
        if row is None:
            return False
        _seen(row, seen_at, ocpp_version)
        return True

    async def _write_touched(self) -> None:
        """The "last seen" of every station the batch touched, in one executemany at its commit."""
        assert self._batch is not None
        touched: dict[str, tuple[dict[str, Any], datetime]] = self._batch.memo.pop(_TOUCHED, {})
        new: set[str] = self._batch.memo.pop(NEW_STATIONS, set())
        if new:
            await self._insert_new([row for sid, (row, _) in sorted(touched.items()) if sid in new])
        moved: set[str] = self._batch.memo.pop(_PRESENCE, set()) - new
        ordered = sorted((sid, v) for sid, v in touched.items() if sid not in new)
        plain = [(row["last_seen_at"], row["ocpp_version"], now, sid) for sid, (row, now) in ordered]
        if moved:  # connects/disconnects of known stations: their presence columns too
            presence = [(row["connected"], row["presence_at"], sid) for sid, (row, _) in ordered if sid in moved]
            if not await update_many(self._db, stations, "station_id", _PRESENCE_COLUMNS, presence):
                for connected, presence_at, sid in presence:
                    values = {"connected": connected, "presence_at": presence_at}
                    await self._db.execute(update(stations).where(stations.c.station_id == sid).values(values))
        if not plain or await update_many(self._db, stations, "station_id", _TOUCH_COLUMNS, plain):
            return
        rows = [
            {"_id": sid, "last_seen_at": row["last_seen_at"], "ocpp_version": row["ocpp_version"], "updated_at": now}
            for sid, (row, now) in ordered
        ]
        if rows:
            stmt = (
                update(stations)
                .where(stations.c.station_id == bindparam("_id"))
                .values(
                    last_seen_at=bindparam("last_seen_at"),
                    ocpp_version=bindparam("ocpp_version"),
                    updated_at=bindparam("updated_at"),
                )
            )
            await self._db.execute(stmt, rows)

    async def _insert_new(self, rows: list[dict[str, Any]]) -> None:
        """The stations this batch heard first, as the batch left them, in one statement. Nothing else creates a
        station's row, and its partition's events are this consumer's alone; if one exists all the same (an
        overlap during a rebalance), the batch fails and its events are handled one at a time.

        One single-row statement, compiled once, that SQLAlchemy sends as multi-row INSERTs with RETURNING
        ("insertmanyvalues"): a statement given the rows as VALUES was compiled anew for every row count."""
        stmt = insert_for(self._db, stations).on_conflict_do_nothing().returning(stations.c.station_id)
        inserted = (await self._db.execute(stmt, rows)).scalars().all()
        if len(inserted) != len(rows):
            raise StationsRaced(sorted({r["station_id"] for r in rows} - set(inserted)))

    async def _prefetched(self) -> dict[str, dict[str, Any]]:
        """The rows of every station the batch's events name, locked and read in one query at the first touch."""
        assert self._batch is not None
        rows: dict[str, dict[str, Any]] | None = self._batch.memo.get("session.station_rows")
        if rows is None:
            ids = sorted({e.station_id for e in self._batch.envelopes if e.station_id})
            self._batch.memo[_NAMED] = frozenset(ids)
            rows = self._batch.memo["session.station_rows"] = {}
            for start in range(0, len(ids), 500):
                query = select(stations).where(stations.c.station_id.in_(ids[start : start + 500])).with_for_update()
                rows.update((row.station_id, dict(row._mapping)) for row in await self._db.execute(query))
        return rows

    async def _lock(
        self, station_id: str, seen_at: datetime, ocpp_version: str | None, now: datetime
    ) -> dict[str, Any]:
        """Create the station's row if new, lock it and read it."""
        insert = insert_for(self._db, stations).values(_new_row(station_id, seen_at, ocpp_version, now))
        await self._db.execute(insert.on_conflict_do_nothing())
        query = select(stations).where(stations.c.station_id == station_id).with_for_update()
        return dict((await self._db.execute(query)).one()._mapping)

    async def _touch_now(
        self, station_id: str, seen_at: datetime, ocpp_version: str | None, now: datetime
    ) -> StationState:
        row = await self._lock(station_id, seen_at, ocpp_version, now)
        changes: dict[str, Any] = {"updated_at": now}
        if seen_at > row["last_seen_at"]:
            changes["last_seen_at"] = seen_at
        if ocpp_version and ocpp_version != row["ocpp_version"]:
            changes["ocpp_version"] = ocpp_version
        await self._db.execute(update(stations).where(stations.c.station_id == station_id).values(**changes))
        merged = {**{k: v for k, v in row.items() if k != "updated_at"}, **changes}
        merged.pop("updated_at")
        return StationState(**merged)

    async def presence(self, station_id: str, *, connected: bool, at: datetime) -> None:
        """Connect/disconnect, in the order the gateway saw them (an older one does not win)."""
        pending = self._batch.memo.get(("session.station", station_id)) if self._batch else None
        if pending is not None:  # the batch's locked copy: written with its "last seen", at the commit
            assert self._batch is not None
            if pending["presence_at"] is None or pending["presence_at"] <= at:
                pending.update(connected=connected, presence_at=at)
                self._batch.memo.setdefault(_PRESENCE, set()).add(station_id)
            return
        c = stations.c
        stmt = (
            update(stations)
            .where(c.station_id == station_id, (c.presence_at.is_(None)) | (c.presence_at <= at))
            .values(connected=connected, presence_at=at)
        )
        await self._db.execute(stmt)


class RemoteStartRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session
        self._batch = _batch_of(session)

    async def _awaiting_stations(self) -> tuple[frozenset[str], set[str]]:
        """Inside a batch: the stations its events name, and which of them have any remote start still awaiting
        its session, in one query at the first lookup. A start's row is committed before its command goes to
        the station, so before any event of the transaction it causes was published, let alone fetched into
        this batch."""
        assert self._batch is not None
        known: tuple[frozenset[str], set[str]] | None = self._batch.memo.get(_AWAITING)
        if known is None:
            c = remote_starts.c
            ids = sorted({e.station_id for e in self._batch.envelopes if e.station_id})
            found: set[str] = set()
            known = self._batch.memo[_AWAITING] = (frozenset(ids), found)
            for start in range(0, len(ids), 500):
                query = select(c.station_id).where(
                    c.station_id.in_(ids[start : start + 500]),
                    c.session_id.is_(None),
                    c.status.in_(("sent", "accepted")),
                )
                found.update((await self._db.execute(query.distinct())).scalars())
        return known

    async def add(self, **values: Any) -> int:
        result = await self._db.execute(
            remote_starts.insert().values(**values).returning(remote_starts.c.remote_start_id)
        )
        return int(result.scalar_one())

    async def get(self, remote_start_id: int) -> RemoteStart | None:
        query = select(remote_starts).where(remote_starts.c.remote_start_id == remote_start_id)
        row = (await self._db.execute(query)).first()
        return RemoteStart(**row._mapping) if row else None

    async def answered(self, remote_start_id: int, **values: Any) -> None:
        await self._db.execute(
            update(remote_starts).where(remote_starts.c.remote_start_id == remote_start_id).values(**values)
        )

    async def link(self, remote_start_id: int, session_id: str) -> None:
        c = remote_starts.c
        await self._db.execute(
            update(remote_starts)
            .where(c.remote_start_id == remote_start_id, c.session_id.is_(None))
            .values(session_id=session_id)
        )

    async def awaiting_session(
        self, station_id: str, id_token: str, bay: int | None, earliest: datetime, latest: datetime
    ) -> RemoteStart | None:
        """The newest unlinked, not refused remote start a session starting in [earliest, latest] answers."""
        if self._batch is not None:
            named, waiting = await self._awaiting_stations()
            if station_id in named and station_id not in waiting:
                return None  # none of the station's remote starts awaits a session (most starts are by card)
        c = remote_starts.c
        query = select(remote_starts).where(
            c.station_id == station_id,
            c.id_token == id_token,
            c.session_id.is_(None),
            c.status.in_(("sent", "accepted")),
            c.requested_at >= earliest,
            c.requested_at <= latest,
        )
        for row in await self._db.execute(query.order_by(c.requested_at.desc())):
            start = RemoteStart(**row._mapping)
            wanted = start.connector_id if start.connector_id is not None else start.evse_id
            if bay is None or wanted is None or wanted == bay:
                return start
        return None
