"""Meter readings and charging-state observations: append-only facts, deduplicated on insert.

Inside a consumer batch the rows are buffered and inserted in bulk: before the batch commits, or
before anything reads them back (a recompute), whichever comes first; on PostgreSQL in one statement
(the rows as one array per column), elsewhere in one executemany.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from decimal import Decimal
from functools import cache
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import current_batch

from voltline_session.adapters.driver_sql import converter, driver_insert
from voltline_session.adapters.orm import charging_states, meter_readings
from voltline_session.adapters.repository import insert_for
from voltline_session.domain.meter import Reading
from voltline_session.domain.periods import Observation

_IN_CHUNK = 500  # ids per IN (...): SQLite limits the number of bound parameters


class _Buffered:
    """Rows inserted ON CONFLICT DO NOTHING, in order; inside a batch, held back and written in bulk.

    Rows are tuples of `columns`' values, built by the repositories directly (no dict per row)."""

    table: Table
    columns: tuple[str, ...]

    def __init__(self, session: AsyncSession) -> None:
        self._db = session
        batch = current_batch()
        self._batch = batch if batch is not None and batch.session is session else None

    @property
    def _prefetched(self) -> dict[Any, list[Any]] | None:
        """What `prefetch` read for this batch, until the next insert."""
        return self._batch.memo.get(("session.prefetch", self.table.name)) if self._batch is not None else None

    def _buffer(self) -> list[tuple[Any, ...]] | None:
        """The batch's rows not written yet (None outside a batch); a new insert outdates what `prefetch` read."""
        if self._batch is None:
            return None
        memo = self._batch.memo
        memo.pop(("session.prefetch", self.table.name), None)
        key = ("session.buffer", self.table.name)
        buffer: list[tuple[Any, ...]] | None = memo.get(key)
        if buffer is None:
            buffer = memo[key] = []
            self._batch.before_commit(key, self._flush)
        return buffer

    async def _insert(self, rows: list[tuple[Any, ...]]) -> None:
        buffer = self._buffer()
        if buffer is None:
            await self._write(rows)
        else:
            buffer.extend(rows)

    async def _flush(self) -> None:
        if self._batch is not None:
            rows = self._batch.memo.pop(("session.buffer", self.table.name), None)
            if rows:
                await self._write(rows)

    async def _write(self, rows: list[tuple[Any, ...]]) -> None:
        if not rows:
            return
        conn = await self._db.connection()
        dialect = conn.dialect
        # Only the columns whose type converts (timestamps), by position: each distinct value once, by the
        # column type's own bind processor, so what is stored is exactly what the ORM path stores.
        converters = [(i, f) for i, name in enumerate(self.columns) if (f := converter(self.table.c[name], dialect))]
        if converters:
            params = []
            for row in rows:
                values = list(row)
                for i, f in converters:
                    values[i] = f(values[i])
                params.append(tuple(values))
        else:
            params = rows
        if dialect.name == "postgresql" and dialect.paramstyle == "numeric_dollar":
            # One statement for the whole batch: the rows as one array per column (the driver encodes each
            # array at once), unnested in order, so of rows with the same key the first stays, as with one
            # INSERT per row (ON CONFLICT DO NOTHING skips rows the same statement inserted before them).
            await conn.exec_driver_sql(
                _unnest_insert(self.table, self.columns, dialect), tuple(zip(*params, strict=True))
            )
            return
        statement = _driver_insert(self.table, self.columns, dialect.paramstyle)
        if statement is None:
            await self._db.execute(
                insert_for(self._db, self.table).on_conflict_do_nothing(),
                [dict(zip(self.columns, r, strict=True)) for r in rows],
            )
            return
        # executemany: one compiled statement for any number of rows (a multi-VALUES statement is compiled
        # anew for every row count, which cost more than the inserts themselves)
        await conn.exec_driver_sql(statement, params)


@cache
def _driver_insert(table: Table, names: tuple[str, ...], paramstyle: str) -> str | None:
    """`INSERT ... ON CONFLICT DO NOTHING` in the driver's own parameter style (None: not one we know)."""
    plain = driver_insert(table, names, paramstyle)
    return None if plain is None else f"{plain} ON CONFLICT DO NOTHING"


@cache
def _unnest_insert(table: Table, names: tuple[str, ...], dialect: Dialect) -> str:
    """PostgreSQL: `INSERT ... SELECT * FROM unnest($1::type[], ...) ON CONFLICT DO NOTHING`, one array a column."""
    columns = ", ".join(f'"{name}"' for name in names)
    arrays = ", ".join(f"${i}::{table.c[name].type.compile(dialect)}[]" for i, name in enumerate(names, 1))
    return f'INSERT INTO "{table.name}" ({columns}) SELECT * FROM unnest({arrays}) ON CONFLICT DO NOTHING'


class ReadingRepository(_Buffered):
    table = meter_readings
    columns = ("session_id", "measurand", "at", "value", "context")

    async def add(self, session_id: str, readings: Sequence[Reading]) -> None:
        """The first value for a measurand at an instant stays; a resent one is dropped here."""
        unique = {(r.measurand, r.at): r for r in reversed(readings)}.values()
        rows = [(session_id, r.measurand, r.at, str(r.value), r.context) for r in unique]
        buffer = self._buffer()
        if buffer is None:
            await self._write(rows)
        else:
            buffer.extend(rows)

    async def for_session(self, session_id: str) -> list[Reading]:
        await self._flush()
        prefetched = self._prefetched
        if prefetched is not None and session_id in prefetched:
            return list(prefetched[session_id])
        c = meter_readings.c
        query = select(c.at, c.measurand, c.value, c.context).where(c.session_id == session_id)
        return [
            Reading(row.at, row.measurand, Decimal(row.value), row.context)
            for row in await self._db.execute(query.order_by(c.at, c.measurand))
        ]

    async def prefetch(self, session_ids: Collection[str]) -> None:
        """Inside a batch: read these sessions' readings in one query, for the `for_session` calls to come."""
        if self._batch is None or not session_ids:
            return
        await self._flush()
        c = meter_readings.c
        found: dict[Any, list[Any]] = {sid: [] for sid in session_ids}
        ids = sorted(found)
        for start in range(0, len(ids), _IN_CHUNK):
            query = select(c.session_id, c.at, c.measurand, c.value, c.context).where(
                c.session_id.in_(ids[start : start + _IN_CHUNK])
            )
            for row in await self._db.execute(query.order_by(c.at, c.measurand)):
                found[row.session_id].append(Reading(row.at, row.measurand, Decimal(row.value), row.context))
        self._batch.memo[("session.prefetch", self.table.name)] = found


_NEWEST = "session.newest_state"  # batch memo: (station, bay) -> its newest (at, source, state), or None
_NEWEST_STATIONS = "session.newest_state.stations"  # batch memo: stations whose every bay is in _NEWEST


class ChargingStateRepository(_Buffered):
    table = charging_states
    columns = ("station_id", "bay", "at", "source", "state", "raw")

    async def add(self, station_id: str, bay: int, at: datetime, source: str, state: str, raw: str) -> None:
        await self._insert([(station_id, bay, at, source, state, raw[:32])])
        newest = self._batch.memo.get(_NEWEST) if self._batch is not None else None
        loaded: set[str] = self._batch.memo.get(_NEWEST_STATIONS, set()) if self._batch is not None else set()
        if newest is not None and ((station_id, bay) in newest or station_id in loaded):
            known = newest.get((station_id, bay))
            # Newest first, of equal instants the first by source; the same key again is dropped on insert.
            if known is None or at > known[0] or (at == known[0] and source < known[1]):
                newest[station_id, bay] = (at, source, state)

    async def newest(self, station_id: str, bay: int, since: datetime) -> Observation | None:
        memo: dict[tuple[str, int], Any] | None = self._batch.memo.get(_NEWEST) if self._batch is not None else None
        if self._batch is not None and (memo is None or (station_id, bay) not in memo):
            await self._prefetch_stations(station_id)
            memo = self._batch.memo[_NEWEST]
        if memo is not None and self._batch is not None:
            found = memo.get((station_id, bay))
        else:
            await self._flush()
            c = charging_states.c
            query = (
                select(c.at, c.source, c.state)
                .where(c.station_id == station_id, c.bay == bay)
                .order_by(c.at.desc(), c.source)
                .limit(1)
            )
            row = (await self._db.execute(query)).first()
            found = None if row is None else (row.at, row.source, row.state)
        return Observation(found[0], found[2]) if found is not None and found[0] >= since else None

    async def _prefetch_stations(self, station_id: str) -> None:
        """Inside a batch, at its first lookup of a bay not known yet: the newest observation of every bay of
        this station and of the batch's other stations not loaded yet, in one query (not one per bay)."""
        assert self._batch is not None
        loaded: set[str] = self._batch.memo.setdefault(_NEWEST_STATIONS, set())
        memo: dict[tuple[str, int], Any] = self._batch.memo.setdefault(_NEWEST, {})
        if station_id in loaded:
            return
        stations = {station_id} | {e.station_id for e in self._batch.envelopes if e.station_id} - loaded
        await self._flush()
        for station, bay, at, source, state in await self._newest_rows(sorted(stations)):
            memo.setdefault((station, bay), (at, source, state))  # a key already known is kept current by `add`
        loaded.update(stations)

    async def prefetch_newest(self, bays: Collection[tuple[str, int]]) -> None:
        """Inside a batch: the newest observation of each of these bays, in one query."""
        if self._batch is None or not bays:
            return
        memo: dict[tuple[str, int], Any] = self._batch.memo.setdefault(_NEWEST, {})
        loaded: set[str] = self._batch.memo.get(_NEWEST_STATIONS, set())
        wanted = {bay for bay in bays if bay not in memo and bay[0] not in loaded}
        if not wanted:
            return
        await self._flush()
        stations = sorted({station for station, _ in wanted})
        memo.update(dict.fromkeys(wanted))
        for station, bay, at, source, state in await self._newest_rows(stations):
            if (station, bay) in wanted:
                memo[station, bay] = (at, source, state)

    async def _newest_rows(self, stations: Sequence[str]) -> list[tuple[str, int, datetime, str, str]]:
        """(station, bay, at, source, state) of the newest observation of every bay of these stations."""
        c = charging_states.c
        out: list[tuple[str, int, datetime, str, str]] = []
        for start in range(0, len(stations), _IN_CHUNK):
            rank = func.row_number().over(partition_by=(c.station_id, c.bay), order_by=(c.at.desc(), c.source))
            ranked = (
                select(c.station_id, c.bay, c.at, c.source, c.state, rank.label("rank"))
                .where(c.station_id.in_(stations[start : start + _IN_CHUNK]))
                .subquery()
            )
            query = select(ranked.c.station_id, ranked.c.bay, ranked.c.at, ranked.c.source, ranked.c.state)
            for row in await self._db.execute(query.where(ranked.c.rank == 1)):
                out.append((row.station_id, row.bay, row.at, row.source, row.state))
        return out

    async def between(self, station_id: str, bay: int, start: datetime, end: datetime | None) -> list[Observation]:
        await self._flush()
        prefetched = self._prefetched
        known = prefetched.get((station_id, bay)) if prefetched is not None else None
        if known is not None and known[0] <= start:  # [from when on, observations...]
            return [o for o in known[1:] if o.at >= start and (end is None or o.at < end)]
        c = charging_states.c
        query = select(c.at, c.state).where(c.station_id == station_id, c.bay == bay, c.at >= start)
        if end is not None:
            query = query.where(c.at < end)
        return [Observation(row.at, row.state) for row in await self._db.execute(query.order_by(c.at, c.source))]

    async def prefetch(self, bays: Collection[tuple[str, int, datetime]]) -> None:
        """Inside a batch: read the observations of these (station, bay)s from the earliest given instant
        on, in one query, for the `between` calls to come."""
        if self._batch is None or not bays:
            return
        await self._flush()
        since = min(at for _, _, at in bays)
        found: dict[Any, list[Any]] = {(station, bay): [since] for station, bay, _ in bays}
        stations = sorted({station for station, _, _ in bays})
        c = charging_states.c
        for start in range(0, len(stations), _IN_CHUNK):
            query = select(c.station_id, c.bay, c.at, c.state).where(
                c.station_id.in_(stations[start : start + _IN_CHUNK]), c.at >= since
            )
            for row in await self._db.execute(query.order_by(c.at, c.source)):
                if (row.station_id, row.bay) in found:
                    found[row.station_id, row.bay].append(Observation(row.at, row.state))
        self._batch.memo[("session.prefetch", self.table.name)] = found
