"""Stations and their sync state in the database, as domain objects."""

from __future__ import annotations

import builtins
from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import rowcount

from voltline_auth.adapters.orm import station_sync, stations
from voltline_auth.adapters.sql import insert_ignore
from voltline_auth.domain.stations import Station
from voltline_auth.domain.sync import StationSync


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

    async def existing(self, station_ids: builtins.list[str]) -> set[str]:
        found: set[str] = set()
        for start in range(0, len(station_ids), 500):
            chunk = station_ids[start : start + 500]
            rows = await self._session.execute(select(stations.c.station_id).where(stations.c.station_id.in_(chunk)))
            found.update(row[0] for row in rows)
        return found

    async def add(self, station: Station) -> None:
        await self._session.execute(insert(stations).values(**station.__dict__))

    async def save(self, station: Station) -> None:
        values = {k: v for k, v in station.__dict__.items() if k != "station_id"}
        await self._session.execute(
            update(stations).where(stations.c.station_id == station.station_id).values(**values)
        )

    async def delete(self, station_id: str) -> None:
        await self._session.execute(delete(station_sync).where(station_sync.c.station_id == station_id))
        await self._session.execute(delete(stations).where(stations.c.station_id == station_id))


class SyncRepository:
    """One row per station auth has to talk to; created on first need."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, station_id: str) -> StationSync | None:
        row = (await self._session.execute(select(station_sync).where(station_sync.c.station_id == station_id))).first()
        return StationSync(**row._mapping) if row else None

    async def many(self, station_ids: Iterable[str]) -> dict[str, StationSync]:
        ids = list(station_ids)
        if not ids:
            return {}
        rows = await self._session.execute(select(station_sync).where(station_sync.c.station_id.in_(ids)))
        return {row.station_id: StationSync(**row._mapping) for row in rows}

    async def ensure(self, station_id: str) -> None:
        await insert_ignore(self._session, station_sync, {"station_id": station_id}, ["station_id"])

    async def set(self, station_id: str, **values: Any) -> None:
        await self.ensure(station_id)
        await self._session.execute(
            update(station_sync).where(station_sync.c.station_id == station_id).values(**values)
        )

    async def bump(self, station_ids: Iterable[str], *, clear_cache: bool = False, due: datetime | None = None) -> None:
        """Something changed that these stations must hear about; `due` delays the first attempt."""
        ids = sorted(set(station_ids))
        for station_id in ids:
            await self.ensure(station_id)
        if not ids:
            return
        values: dict[str, Any] = {"generation": station_sync.c.generation + 1, "attempts": 0, "next_attempt_at": due}
        if clear_cache:
            values["cache_clear_pending"] = True
        await self._session.execute(update(station_sync).where(station_sync.c.station_id.in_(ids)).values(**values))

    async def stations_on_lists(self, list_ids: Iterable[str]) -> list[str]:
        ids = list(list_ids)
        if not ids:
            return []
        query = select(station_sync.c.station_id).where(station_sync.c.local_list.in_(ids))
        return list((await self._session.execute(query)).scalars())

    async def due(self, now: datetime, limit: int) -> list[str]:
        """Connected, accepted stations with pending work whose retry time has come and nobody holds."""
        query = (
            select(station_sync.c.station_id)
            .join(stations, stations.c.station_id == station_sync.c.station_id)
            .where(
                station_sync.c.connected.is_(True),
                stations.c.status == "Accepted",
                station_sync.c.generation != station_sync.c.synced_generation,
                or_(station_sync.c.next_attempt_at.is_(None), station_sync.c.next_attempt_at <= now),
                or_(station_sync.c.lease_until.is_(None), station_sync.c.lease_until < now),
            )
            .order_by(station_sync.c.next_attempt_at)
            .limit(limit)
        )
        return list((await self._session.execute(query)).scalars())

    async def claim(self, station_id: str, now: datetime, lease: timedelta) -> bool:
        """Take the station's sync lease, so replicas never push to one station at once."""
        result = await self._session.execute(
            update(station_sync)
            .where(
                and_(
                    station_sync.c.station_id == station_id,
                    or_(station_sync.c.lease_until.is_(None), station_sync.c.lease_until < now),
                )
            )
            .values(lease_until=now + lease)
        )
        return bool(rowcount(result))
