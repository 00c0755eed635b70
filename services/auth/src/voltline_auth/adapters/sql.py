"""Small portable SQL helpers (PostgreSQL and SQLite)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import rowcount


async def insert_ignore(session: AsyncSession, table: Table, values: dict[str, Any], keys: Sequence[str]) -> bool:
    """INSERT ... ON CONFLICT DO NOTHING; True when the row is new."""
    insert = postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert
    result = await session.execute(insert(table).values(**values).on_conflict_do_nothing(index_elements=list(keys)))
    return bool(rowcount(result))


def starts_with(column: ColumnElement[str], prefix: str) -> ColumnElement[bool]:
    """A LIKE 'prefix%' that treats % and _ in the prefix literally."""
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return column.like(f"{escaped}%", escape="\\")
