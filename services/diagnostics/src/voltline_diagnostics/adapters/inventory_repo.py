"""Fleet inventory: stations' boot data (health_stations) and their device model (device_variables)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_diagnostics.adapters.health_tables import device_variables, stations


class InventoryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put_variables(self, station_id: str, items: list[dict[str, Any]], now: datetime) -> None:
        """Upsert by (station, key): delete-then-insert, portable across PostgreSQL and SQLite."""
        if not items:
            return
        keys = [i["key"] for i in items]
        await self.session.execute(
            delete(device_variables).where(
                device_variables.c.station_id == station_id, device_variables.c.key.in_(keys)
            )
        )
        await self.session.execute(
            insert(device_variables), [{"station_id": station_id, "updated_at": now, **i} for i in items]
        )

    async def variables(self, station_id: str, component: str | None = None) -> list[dict[str, Any]]:
        query = select(device_variables).where(device_variables.c.station_id == station_id)
        if component is not None:
            query = query.where(device_variables.c.component == component)
        rows = await self.session.execute(query.order_by(device_variables.c.key))
        return [dict(r._mapping) for r in rows]

    async def stations(
        self,
        *,
        station_id: str | None = None,
        model: str | None = None,
        vendor: str | None = None,
        firmware_version: str | None = None,
        online: bool | None = None,
        limit: int = 10_000,
    ) -> list[dict[str, Any]]:
        query = select(stations)
        if station_id is not None:
            query = query.where(stations.c.station_id == station_id)
        if model is not None:
            query = query.where(stations.c.model == model)
        if vendor is not None:
            query = query.where(stations.c.vendor == vendor)
        if firmware_version is not None:
            query = query.where(stations.c.firmware_version == firmware_version)
        if online is not None:
            query = query.where(stations.c.online.is_(online))
        rows = await self.session.execute(query.order_by(stations.c.station_id).limit(limit))
        return [dict(r._mapping) for r in rows]

    async def counts(self, by: str) -> list[tuple[Any, ...]]:
        """Stations per (vendor, model) or per (vendor, model, firmware_version)."""
        cols = [stations.c.vendor, stations.c.model]
        if by == "firmware":
            cols.append(stations.c.firmware_version)
        rows = await self.session.execute(select(*cols, func.count()).group_by(*cols).order_by(*cols))
        return [tuple(r) for r in rows]
