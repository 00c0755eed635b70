"""Meter readings and charging-state observations: append-only facts, deduplicated on insert.

Inside a consumer batch the rows are buffered and inserted in bulk: before the batch commits, or
before anything reads them back (a recompute), whichever comes first.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import Table, select
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import current_batch

from voltline_session.adapters.orm import charging_states, meter_readings
from voltline_session.adapters.repository import insert_for
from voltline_session.domain.meter import Reading
from voltline_session.domain.periods import Observation


class _Buffered:
    """Rows inserted ON CONFLICT DO NOTHING, in order; inside a batch, held back and written in bulk."""

    table: Table

    def __init__(self, session: AsyncSession) -> None:
        self._db = session
        batch = current_batch()
        self._batch = batch if batch is not None and batch.session is session else None

    async def _insert(self, rows: list[dict[str, Any]]) -> None:
        if self._batch is None:
            await self._write(rows)
            return
        key = ("session.buffer", self.table.name)
        buffer: list[dict[str, Any]] | None = self._batch.memo.get(key)
        if buffer is None:
            buffer = self._batch.memo[key] = []
            self._batch.before_commit(key, self._flush)
        buffer.extend(rows)

    async def _flush(self) -> None:
        if self._batch is not None:
            rows = self._batch.memo.pop(("session.buffer", self.table.name), None)
            if rows:
                await self._write(rows)

    async def _write(self, rows: list[dict[str, Any]]) -> None:
        # executemany: one compiled statement for any number of rows (a multi-VALUES statement is compiled
        # anew for every row count, which cost more than the inserts themselves)
        if rows:
            await self._db.execute(insert_for(self._db, self.table).on_conflict_do_nothing(), rows)


class ReadingRepository(_Buffered):
    table = meter_readings

    async def add(self, session_id: str, readings: Sequence[Reading]) -> None:
        """The first value for a measurand at an instant stays; a resent one is dropped here."""
        unique = {(r.measurand, r.at): r for r in reversed(readings)}.values()
        rows = [
            {
                "session_id": session_id,
                "measurand": r.measurand,
                "at": r.at,
                "value": str(r.value),
                "context": r.context,
            }
            for r in unique
        ]
        await self._insert(rows)

    async def for_session(self, session_id: str) -> list[Reading]:
        await self._flush()
        c = meter_readings.c
        query = select(c.at, c.measurand, c.value, c.context).where(c.session_id == session_id).order_by(c.at)
        return [
            Reading(row.at, row.measurand, Decimal(row.value), row.context) for row in await self._db.execute(query)
        ]


class ChargingStateRepository(_Buffered):
    table = charging_states

    async def add(self, station_id: str, bay: int, at: datetime, source: str, state: str, raw: str) -> None:
        values = {"station_id": station_id, "bay": bay, "at": at, "source": source, "state": state, "raw": raw[:32]}
        await self._insert([values])

    async def between(self, station_id: str, bay: int, start: datetime, end: datetime | None) -> list[Observation]:
        await self._flush()
        c = charging_states.c
        query = select(c.at, c.state).where(c.station_id == station_id, c.bay == bay, c.at >= start)
        if end is not None:
            query = query.where(c.at < end)
        return [Observation(row.at, row.state) for row in await self._db.execute(query.order_by(c.at))]
