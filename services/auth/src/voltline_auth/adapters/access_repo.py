"""API keys, the audit log and the authorisation decision log, in the database."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import rowcount

from voltline_auth.adapters.orm import api_keys, audit_log, authorization_decisions
from voltline_auth.domain.access import ApiKey, AuditEntry


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, key: ApiKey) -> None:
        await self._session.execute(insert(api_keys).values(**key.__dict__))

    async def get(self, key_id: str) -> ApiKey | None:
        row = (await self._session.execute(select(api_keys).where(api_keys.c.key_id == key_id))).first()
        return ApiKey(**row._mapping) if row else None

    async def by_hash(self, key_hash: str) -> ApiKey | None:
        row = (await self._session.execute(select(api_keys).where(api_keys.c.key_hash == key_hash))).first()
        return ApiKey(**row._mapping) if row else None

    async def list(self, *, role: str | None = None, limit: int = 100, offset: int = 0) -> list[ApiKey]:
        query = select(api_keys).order_by(api_keys.c.created_at, api_keys.c.key_id).limit(limit).offset(offset)
        if role is not None:
            query = query.where(api_keys.c.role == role)
        return [ApiKey(**row._mapping) for row in await self._session.execute(query)]

    async def revoke(self, key_id: str, at: datetime) -> None:
        await self._session.execute(update(api_keys).where(api_keys.c.key_id == key_id).values(revoked_at=at))


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, entry: AuditEntry) -> None:
        values = {k: v for k, v in entry.__dict__.items() if k != "id"}
        await self._session.execute(insert(audit_log).values(**values))

    async def list(
        self,
        *,
        actor: str | None = None,
        action: str | None = None,
        target_id: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[AuditEntry]:
        c = audit_log.c
        query = select(audit_log).order_by(c.id.desc()).limit(limit).offset(offset)
        for column, value in ((c.actor, actor), (c.action, action), (c.target_id, target_id)):
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(c.at >= since)
        if until is not None:
            query = query.where(c.at < until)
        return [AuditEntry(**row._mapping) for row in await self._session.execute(query)]


class DecisionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self._session.execute(insert(authorization_decisions), list(rows))

    async def stations_that_accepted(self, key: str, since: datetime) -> list[str]:
        """Stations that were told this token is Accepted lately: they may hold it in their auth cache."""
        c = authorization_decisions.c
        query = select(c.station_id).where(c.id_token_key == key, c.at >= since, c.status == "Accepted").distinct()
        return list((await self._session.execute(query)).scalars())

    async def list(
        self,
        *,
        station_id: str | None = None,
        key: str | None = None,
        status: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        c = authorization_decisions.c
        query = select(authorization_decisions).order_by(c.id.desc()).limit(limit).offset(offset)
        for column, value in ((c.station_id, station_id), (c.id_token_key, key), (c.status, status)):
            if value is not None:
                query = query.where(column == value)
        return [dict(row._mapping) for row in await self._session.execute(query)]

    async def purge(self, older_than: datetime) -> int:
        result = await self._session.execute(
            delete(authorization_decisions).where(authorization_decisions.c.at < older_than)
        )
        return rowcount(result)
