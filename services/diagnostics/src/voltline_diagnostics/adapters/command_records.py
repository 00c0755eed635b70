"""Command records in the diagnostics store: one row per command, which is also the audit log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import rowcount

from voltline_diagnostics.adapters.maintenance_orm import commands
from voltline_diagnostics.service_layer.maintenance_ports import CommandRecord


class CommandRecords:
    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def add(self, record: CommandRecord) -> None:
        await self._db.execute(commands.insert().values(**record.__dict__))

    async def update(self, command_id: str, **values: Any) -> None:
        await self._db.execute(update(commands).where(commands.c.command_id == command_id).values(**values))

    async def get(self, command_id: str) -> CommandRecord | None:
        row = (await self._db.execute(select(commands).where(commands.c.command_id == command_id))).first()
        return CommandRecord(**row._mapping) if row else None

    async def find(
        self,
        *,
        station_id: str | None = None,
        status: str | None = None,
        command: str | None = None,
        requested_by: str | None = None,
        bulk_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[CommandRecord]:
        c = commands.c
        query = select(commands)
        for column, value in (
            (c.station_id, station_id),
            (c.status, status),
            (c.command, command),
            (c.requested_by, requested_by),
            (c.bulk_id, bulk_id),
        ):
            if value is not None:
                query = query.where(column == value)
        query = query.order_by(c.created_at.desc(), c.command_id).limit(limit).offset(offset)
        return [CommandRecord(**row._mapping) for row in await self._db.execute(query)]

    async def count_by_status(self, bulk_id: str) -> dict[str, int]:
        c = commands.c
        query = select(c.status, func.count()).where(c.bulk_id == bulk_id).group_by(c.status)
        return {status: int(n) for status, n in await self._db.execute(query)}

    async def abandon_stale(self, sent_before: datetime, queued_before: datetime, now: datetime) -> int:
        """Commands nobody will record an answer for (their service instance stopped): failed, saying so."""
        c = commands.c
        stale = ((c.status == "sent") & (c.sent_at < sent_before)) | (
            (c.status == "queued") & (c.created_at < queued_before)
        )
        stmt = (
            update(commands)
            .where(stale)
            .values(
                status="failed", detail="the service stopped before the station's answer was recorded", answered_at=now
            )
        )
        result = await self._db.execute(stmt)
        return rowcount(result)
