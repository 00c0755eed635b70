"""Local authorisation lists, their entries and their change log, in the database."""

from __future__ import annotations

import builtins
from datetime import datetime

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import rowcount

from voltline_auth.adapters.orm import local_list_changes, local_list_entries, local_lists
from voltline_auth.adapters.sql import insert_ignore
from voltline_auth.domain.local_lists import LocalList

TokenKey = tuple[str, str]  # (id_token_key, type)


class LocalListRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, list_id: str) -> LocalList | None:
        row = (await self._session.execute(select(local_lists).where(local_lists.c.list_id == list_id))).first()
        return LocalList(**row._mapping) if row else None

    async def list(self, *, limit: int, offset: int) -> list[LocalList]:
        query = select(local_lists).order_by(local_lists.c.list_id).limit(limit).offset(offset)
        return [LocalList(**row._mapping) for row in await self._session.execute(query)]

    async def add(self, local_list: LocalList) -> None:
        await self._session.execute(insert(local_lists).values(**local_list.__dict__))

    async def delete(self, list_id: str) -> None:
        for table in (local_list_changes, local_list_entries, local_lists):
            await self._session.execute(delete(table).where(table.c.list_id == list_id))

    async def bump(self, list_id: str, now: datetime) -> int:
        """Next version of the list (the row stays locked until commit on PostgreSQL)."""
        await self._session.execute(
            update(local_lists)
            .where(local_lists.c.list_id == list_id)
            .values(version=local_lists.c.version + 1, updated_at=now)
        )
        query = select(local_lists.c.version).where(local_lists.c.list_id == list_id)
        return int((await self._session.execute(query)).scalar_one())

    async def record_change(self, list_id: str, version: int, key: TokenKey, id_token: str) -> None:
        values = {"list_id": list_id, "version": version, "id_token_key": key[0], "type": key[1], "id_token": id_token}
        await insert_ignore(self._session, local_list_changes, values, ["list_id", "version", "id_token_key", "type"])

    async def add_entry(self, list_id: str, key: TokenKey) -> bool:
        values = {"list_id": list_id, "id_token_key": key[0], "type": key[1]}
        return await insert_ignore(self._session, local_list_entries, values, ["list_id", "id_token_key", "type"])

    async def remove_entry(self, list_id: str, key: TokenKey) -> bool:
        c = local_list_entries.c
        result = await self._session.execute(
            delete(local_list_entries).where(c.list_id == list_id, c.id_token_key == key[0], c.type == key[1])
        )
        return bool(rowcount(result))

    async def lists_with(self, key: TokenKey) -> builtins.list[str]:
        c = local_list_entries.c
        query = select(c.list_id).where(c.id_token_key == key[0], c.type == key[1]).order_by(c.list_id)
        return list((await self._session.execute(query)).scalars())

    async def entries(self, list_id: str, *, limit: int | None = None, offset: int = 0) -> builtins.list[TokenKey]:
        c = local_list_entries.c
        query = select(c.id_token_key, c.type).where(c.list_id == list_id).order_by(c.id_token_key, c.type)
        if limit is not None:
            query = query.limit(limit).offset(offset)
        return [(row.id_token_key, row.type) for row in await self._session.execute(query)]

    async def size(self, list_id: str) -> int:
        query = select(func.count()).where(local_list_entries.c.list_id == list_id)
        return int((await self._session.execute(query)).scalar_one())

    async def changes_since(self, list_id: str, version: int) -> dict[TokenKey, str]:
        """Tokens changed after `version`, with their id as sent to stations."""
        c = local_list_changes.c
        query = (
            select(c.id_token_key, c.type, c.id_token)
            .where(c.list_id == list_id, c.version > version)
            .order_by(c.version)
        )
        return {(row.id_token_key, row.type): row.id_token for row in await self._session.execute(query)}
