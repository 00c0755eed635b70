"""Statements written through the database driver's own executemany, compiled once per table and dialect.

A consumer batch writes hundreds of rows of the same shape (every held session's row, every station's
"last seen"); SQLAlchemy's executemany builds and processes a parameter dict per row, which cost more than
the writes. Here each row is a plain tuple, each value converted by its column type's own bind processor
(the exact value the ORM path sends), timestamps once per distinct value.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

from sqlalchemy import JSON, Column, Table
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

_MISSING = object()

MARKERS: dict[str, Callable[[int], str]] = {
    "qmark": lambda i: "?",
    "numeric_dollar": lambda i: f"${i}",
    "format": lambda i: "%s",
}


@cache
def driver_update(table: Table, key: str, names: tuple[str, ...], paramstyle: str) -> str | None:
    """`UPDATE table SET names... WHERE key = ?` in the driver's parameter style (None: a style we don't know);
    the parameters are the `names` in order, then the key."""
    marker = MARKERS.get(paramstyle)
    if marker is None:
        return None
    sets = ", ".join(f'"{name}" = {marker(i)}' for i, name in enumerate(names, 1))
    return f'UPDATE {table.name} SET {sets} WHERE "{key}" = {marker(len(names) + 1)}'


@cache
def driver_insert(table: Table, names: tuple[str, ...], paramstyle: str) -> str | None:
    """`INSERT INTO table (names...) VALUES (?...)` in the driver's parameter style (None: a style we don't know)."""
    marker = MARKERS.get(paramstyle)
    if marker is None:
        return None
    columns = ", ".join(f'"{name}"' for name in names)
    values = ", ".join(marker(i) for i in range(1, len(names) + 1))
    return f'INSERT INTO "{table.name}" ({columns}) VALUES ({values})'


def converter(column: Column[Any], dialect: Dialect) -> Callable[[Any], Any] | None:
    """What the column's type does to a value on its way to the driver; memoised per hashable value
    (timestamps repeat). None: the value goes as it is."""
    process = column.type._cached_bind_processor(dialect)
    if process is None:
        return None
    if isinstance(column.type, JSON):  # lists and dicts: not hashable, converted every time
        return process
    seen: dict[Any, Any] = {None: process(None)}

    def convert(value: Any) -> Any:
        found = seen.get(value, _MISSING)
        if found is _MISSING:
            found = seen[value] = process(value)
        return found

    return convert


async def update_many(
    db: AsyncSession, table: Table, key: str, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> bool:
    """Each row (values of `names`, then the key) updates one row, in one driver executemany; False when
    the driver's parameter style is not one we know (the caller then goes through SQLAlchemy)."""
    conn = await db.connection()
    statement = driver_update(table, key, tuple(names), conn.dialect.paramstyle)
    if statement is None:
        return False
    await _execute_many(conn, table, statement, (*names, key), rows)
    return True


async def insert_many(db: AsyncSession, table: Table, names: Sequence[str], rows: Sequence[Sequence[Any]]) -> bool:
    """Each row (values of `names`) inserted, in one driver executemany; False when the driver's parameter
    style is not one we know (the caller then goes through SQLAlchemy)."""
    conn = await db.connection()
    statement = driver_insert(table, tuple(names), conn.dialect.paramstyle)
    if statement is None:
        return False
    await _execute_many(conn, table, statement, names, rows)
    return True


async def _execute_many(
    conn: AsyncConnection, table: Table, statement: str, names: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    converters = [(i, f) for i, name in enumerate(names) if (f := converter(table.c[name], conn.dialect))]
    params = []
    for row in rows:
        values = list(row)
        for i, f in converters:  # only the columns whose type converts (timestamps, JSON, booleans on SQLite)
            values[i] = f(values[i])
        params.append(tuple(values))
    await conn.exec_driver_sql(statement, params)
