"""Meter readings and charging-state observations: append-only facts, deduplicated on insert."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_session.adapters.orm import charging_states, meter_readings
from voltline_session.adapters.repository import insert_for
from voltline_session.domain.meter import Reading
from voltline_session.domain.periods import Observation

_CHUNK = 500  # rows per INSERT: SQLite limits the number of bound parameters


class ReadingRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

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
        for start in range(0, len(rows), _CHUNK):
            chunk = rows[start : start + _CHUNK]
            await self._db.execute(insert_for(self._db, meter_readings).values(chunk).on_conflict_do_nothing())

    async def for_session(self, session_id: str) -> list[Reading]:
        c = meter_readings.c
        query = select(c.at, c.measurand, c.value, c.context).where(c.session_id == session_id).order_by(c.at)
        return [
            Reading(row.at, row.measurand, Decimal(row.value), row.context) for row in await self._db.execute(query)
        ]


class ChargingStateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._db = session

    async def add(self, station_id: str, bay: int, at: datetime, source: str, state: str, raw: str) -> None:
        values = {"station_id": station_id, "bay": bay, "at": at, "source": source, "state": state, "raw": raw[:32]}
        await self._db.execute(insert_for(self._db, charging_states).values(**values).on_conflict_do_nothing())

    async def between(self, station_id: str, bay: int, start: datetime, end: datetime | None) -> list[Observation]:
        c = charging_states.c
        query = select(c.at, c.state).where(c.station_id == station_id, c.bay == bay, c.at >= start)
        if end is not None:
            query = query.where(c.at < end)
        return [Observation(row.at, row.state) for row in await self._db.execute(query.order_by(c.at))]
