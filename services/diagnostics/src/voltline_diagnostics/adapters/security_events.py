"""Security events stations report (2.x SecurityEventNotification, 1.6 security extension), stored as sent."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_diagnostics.adapters.maintenance_orm import security_events


@dataclass(frozen=True)
class SecurityEvent:
    event_id: str
    station_id: str
    type: str
    tech_info: str | None
    occurred_at: datetime
    received_at: datetime


class SecurityEvents:
    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def add(self, event: SecurityEvent) -> None:
        """Idempotent: a redelivered event (same event id) is stored once."""
        dialect = self._db.get_bind().dialect.name
        insert: Any = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(security_events)
        await self._db.execute(insert.values(**event.__dict__).on_conflict_do_nothing())

    async def find(self, station_id: str | None, limit: int, offset: int) -> list[SecurityEvent]:
        c = security_events.c
        query = select(security_events)
        if station_id is not None:
            query = query.where(c.station_id == station_id)
        query = query.order_by(c.occurred_at.desc()).limit(limit).offset(offset)
        return [SecurityEvent(**row._mapping) for row in await self._db.execute(query)]
