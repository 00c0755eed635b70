"""Log upload records: one per GetDiagnostics/GetLog request, holding its one-time upload token."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from voltline_diagnostics.adapters.maintenance_orm import log_uploads
from voltline_diagnostics.service_layer.maintenance_ports import LogUpload


class LogUploads:
    def __init__(self, db: AsyncSession) -> None:
        self._db = db

    async def add(self, record: LogUpload) -> None:
        await self._db.execute(log_uploads.insert().values(**record.__dict__))

    async def update(self, log_id: str, **values: Any) -> None:
        await self._db.execute(update(log_uploads).where(log_uploads.c.log_id == log_id).values(**values))

    async def _one(self, *where: Any, lock: bool = False) -> LogUpload | None:
        query = select(log_uploads).where(*where)
        if lock:
            query = query.with_for_update()
        row = (await self._db.execute(query)).first()
        return LogUpload(**row._mapping) if row else None

    async def get(self, log_id: str) -> LogUpload | None:
        return await self._one(log_uploads.c.log_id == log_id)

    async def by_token(self, token: str) -> LogUpload | None:
        return await self._one(log_uploads.c.token == token, lock=True)

    async def for_notification(self, station_id: str, request_id: int | None) -> LogUpload | None:
        """The request a status notification is about: by requestId, or (1.6 GetDiagnostics) the newest."""
        c = log_uploads.c
        query = select(log_uploads).where(c.station_id == station_id)
        if request_id is not None:
            query = query.where(c.request_id == request_id)
        else:
            query = query.where(c.log_type == "diagnostics")
        row = (await self._db.execute(query.order_by(c.created_at.desc()).limit(1))).first()
        return LogUpload(**row._mapping) if row else None

    async def find(self, station_id: str | None, limit: int, offset: int) -> list[LogUpload]:
        c = log_uploads.c
        query = select(log_uploads)
        if station_id is not None:
            query = query.where(c.station_id == station_id)
        query = query.order_by(c.created_at.desc()).limit(limit).offset(offset)
        return [LogUpload(**row._mapping) for row in await self._db.execute(query)]

    async def older_than(self, before: datetime) -> list[LogUpload]:
        query = select(log_uploads).where(log_uploads.c.created_at < before)
        return [LogUpload(**row._mapping) for row in await self._db.execute(query)]

    async def remove(self, log_id: str) -> None:
        await self._db.execute(delete(log_uploads).where(log_uploads.c.log_id == log_id))
