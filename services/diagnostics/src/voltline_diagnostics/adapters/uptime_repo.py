"""Operator-declared uptime exclusions (uptime_exclusions table)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_diagnostics.adapters.health_tables import exclusions


class ExclusionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, **values: Any) -> None:
        await self.session.execute(insert(exclusions).values(**values))

    async def overlapping(self, station_id: str | None, start: datetime, end: datetime) -> list[dict[str, Any]]:
        query = select(exclusions).where(exclusions.c.starts_at < end, exclusions.c.ends_at > start)
        if station_id is not None:
            query = query.where(exclusions.c.station_id == station_id)
        rows = await self.session.execute(query.order_by(exclusions.c.starts_at))
        return [dict(r._mapping) for r in rows]
