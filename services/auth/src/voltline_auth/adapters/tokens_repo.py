"""Drivers, id tokens and the sessions running on them, in the database, as domain objects."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import fields
from typing import Any

from sqlalchemy import Select, and_, delete, func, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import Reader

from voltline_auth.adapters.orm import active_sessions, drivers, id_tokens
from voltline_auth.adapters.sql import insert_ignore, starts_with
from voltline_auth.domain.tokens import Driver, IdToken, TokenView

_TOKEN_FIELDS = [f.name for f in fields(IdToken)]
_VIEW_COLUMNS = [
    *id_tokens.c,
    drivers.c.language.label("driver_language"),
    drivers.c.max_concurrent_sessions.label("driver_limit"),
]


def _token(row: Any) -> IdToken:
    mapping = row._mapping
    return IdToken(**{name: mapping[name] for name in _TOKEN_FIELDS})


def _view(row: Any) -> TokenView:
    return TokenView(_token(row), row.driver_language, row.driver_limit)


class DriverRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, driver_id: str) -> Driver | None:
        row = (await self._session.execute(select(drivers).where(drivers.c.driver_id == driver_id))).first()
        return Driver(**row._mapping) if row else None

    async def get_by_email(self, email: str) -> Driver | None:
        row = (await self._session.execute(select(drivers).where(drivers.c.email == email))).first()
        return Driver(**row._mapping) if row else None

    async def add(self, driver: Driver) -> None:
        await self._session.execute(insert(drivers).values(**driver.__dict__))

    async def save(self, driver: Driver) -> None:
        values = {k: v for k, v in driver.__dict__.items() if k != "driver_id"}
        await self._session.execute(update(drivers).where(drivers.c.driver_id == driver.driver_id).values(**values))

    async def search(self, *, q: str | None, limit: int, offset: int) -> list[Driver]:
        query = select(drivers).order_by(drivers.c.created_at, drivers.c.driver_id).limit(limit).offset(offset)
        if q:
            query = query.where(or_(starts_with(drivers.c.email, q.lower()), starts_with(drivers.c.name, q)))
        return [Driver(**row._mapping) for row in await self._session.execute(query)]


def _views_by_key(key: str) -> Select[Any]:
    return (
        select(*_VIEW_COLUMNS)
        .select_from(id_tokens.outerjoin(drivers, drivers.c.driver_id == id_tokens.c.driver_id))
        .where(id_tokens.c.id_token_key == key)
        .order_by(id_tokens.c.type)
    )


class TokenLookup:
    """The decision path's read of a token: one statement through a Reader, outside any unit of work."""

    def __init__(self, reader: Reader) -> None:
        self._reader = reader

    async def views_by_key(self, key: str) -> list[TokenView]:
        return [_view(row) for row in await self._reader.all(_views_by_key(key))]

    async def keys_after(self, after: str, limit: int) -> list[str]:
        """The next `limit` distinct token values after `after`, in order (republishing every decision)."""
        query = (
            select(id_tokens.c.id_token_key)
            .where(id_tokens.c.id_token_key > after)
            .group_by(id_tokens.c.id_token_key)
            .order_by(id_tokens.c.id_token_key)
            .limit(limit)
        )
        return [row[0] for row in await self._reader.all(query)]


class TokenRepository:
    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def get(self, key: str, token_type: str) -> IdToken | None:
        query = select(id_tokens).where(id_tokens.c.id_token_key == key, id_tokens.c.type == token_type)
        row = (await self._session.execute(query)).first()
        return _token(row) if row else None

    async def by_key(self, key: str) -> list[IdToken]:
        query = select(id_tokens).where(id_tokens.c.id_token_key == key).order_by(id_tokens.c.type)
        return [_token(row) for row in await self._session.execute(query)]

    async def views_by_key(self, key: str) -> list[TokenView]:
        """Every token with this id, with its driver's fields: one primary-key range lookup."""
        return [_view(row) for row in await self._session.execute(_views_by_key(key))]

    async def views(self, keys: Iterable[tuple[str, str]]) -> dict[tuple[str, str], TokenView]:
        wanted = list(keys)
        if not wanted:
            return {}
        query = select(*_VIEW_COLUMNS).select_from(
            id_tokens.outerjoin(drivers, drivers.c.driver_id == id_tokens.c.driver_id)
        )
        out: dict[tuple[str, str], TokenView] = {}
        for start in range(0, len(wanted), 200):  # keep each statement's parameter count modest
            chunk = wanted[start : start + 200]
            condition = or_(*(and_(id_tokens.c.id_token_key == k, id_tokens.c.type == t) for k, t in chunk))
            for row in await self._session.execute(query.where(condition)):
                out[(row.id_token_key, row.type)] = _view(row)
        return out

    async def of_driver(self, driver_id: str) -> list[IdToken]:
        query = select(id_tokens).where(id_tokens.c.driver_id == driver_id)
        return [_token(row) for row in await self._session.execute(query)]

    async def add(self, token: IdToken) -> None:
        await self._session.execute(insert(id_tokens).values(id_token_key=token.key, **token.__dict__))

    async def save(self, token: IdToken) -> None:
        values = {k: v for k, v in token.__dict__.items() if k not in ("id_token", "type")}
        await self._session.execute(
            update(id_tokens)
            .where(id_tokens.c.id_token_key == token.key, id_tokens.c.type == token.type)
            .values(**values)
        )

    async def delete(self, token: IdToken) -> None:
        await self._session.execute(
            delete(id_tokens).where(id_tokens.c.id_token_key == token.key, id_tokens.c.type == token.type)
        )

    async def search(
        self,
        *,
        driver_id: str | None = None,
        prefix: str | None = None,
        status: str | None = None,
        token_type: str | None = None,
        group_id: str | None = None,
        limit: int = 100,
        offset: int = 0,
    ) -> list[IdToken]:
        query = select(id_tokens).order_by(id_tokens.c.id_token_key, id_tokens.c.type).limit(limit).offset(offset)
        if driver_id is not None:
            query = query.where(id_tokens.c.driver_id == driver_id)
        if prefix:
            query = query.where(starts_with(id_tokens.c.id_token_key, prefix.upper()))
        if status is not None:
            query = query.where(id_tokens.c.status == status)
        if token_type is not None:
            query = query.where(id_tokens.c.type == token_type)
        if group_id is not None:
            query = query.where(id_tokens.c.group_id == group_id)
        return [_token(row) for row in await self._session.execute(query)]


class ActiveSessionRepository:
    """Sessions the session service reported started and not yet ended."""

    def __init__(self, session: AsyncSession) -> None:
        self._session = session

    async def add(self, **values: Any) -> None:
        await insert_ignore(self._session, active_sessions, values, ["session_id"])

    async def remove(self, session_id: str) -> None:
        await self._session.execute(delete(active_sessions).where(active_sessions.c.session_id == session_id))

    async def count_for_driver(self, driver_id: str, *, station_id: str, evse_id: int | None) -> int:
        """Running sessions of a driver, not counting the one at the asking station's EVSE (that's this one)."""
        c = active_sessions.c
        same_place = c.station_id == station_id
        if evse_id is not None:
            same_place = and_(same_place, or_(c.evse_id.is_(None), c.evse_id == evse_id))
        query = select(func.count()).where(c.driver_id == driver_id, ~same_place)
        return int((await self._session.execute(query)).scalar_one())

    async def stations_for_token(self, key: str) -> list[str]:
        query = select(active_sessions.c.station_id).where(active_sessions.c.id_token_key == key).distinct()
        return list((await self._session.execute(query)).scalars())

    async def list(self, *, driver_id: str | None, limit: int) -> list[dict[str, Any]]:
        query = select(active_sessions).order_by(active_sessions.c.started_at).limit(limit)
        if driver_id is not None:
            query = query.where(active_sessions.c.driver_id == driver_id)
        return [dict(row._mapping) for row in await self._session.execute(query)]
