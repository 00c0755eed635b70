"""Stations in the database, as domain objects."""

from __future__ import annotations

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_auth.adapters.orm import stations
from voltline_auth.domain.stations import Station


class StationRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, station_id: str) -> Station | None:
        row = (await self._session.execute(select(stations).where(stations.c.station_id == station_id))).first()
        return Station(**row._mapping) if row else None

    async def list(self, *, status: str | None = None, limit: int = 100, offset: int = 0) -> list[Station]:
        query = select(stations).order_by(stations.c.station_id).limit(limit).offset(offset)
        if status is not None:
            query = query.where(stations.c.status == status)
        return [Station(**row._mapping) for row in await self._session.execute(query)]

    async def add(self, station: Station) -> None:
        await self._session.execute(insert(stations).values(**station.__dict__))

    async def save(self, station: Station) -> None:
        values = {k: v for k, v in station.__dict__.items() if k != "station_id"}
        await self._session.execute(
            update(stations).where(stations.c.station_id == station.station_id).values(**values)
        )
