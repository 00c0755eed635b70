"""Many rows in one driver call, without SQLAlchemy's per-row parameter processing: SQLite's `executemany`;
on PostgreSQL a binary COPY, into the table (plain inserts) or into a temporary staging table moved by one
`INSERT .. SELECT .. ON CONFLICT` (upserts). Measured against one `INSERT .. SELECT FROM unnest(arrays)` per
statement (the fallback) and an executemany: less CPU for the server and for this process per row.

A replay writes about five rows per event (facts, contributions, bucket deltas, drivers, live state);
through `session.execute(insert(t), rows)` each row costs SQLAlchemy's parameter construction and bind
processors (~10-40 us). Here the statement is compiled once per dialect and shape, and the rows go to the
driver as tuples, converted only where the driver needs it: UTC timestamps (SQLite stores the naive UTC
text `UTCDateTime` writes; asyncpg takes aware datetimes) and JSON (text for both).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from operator import itemgetter
from typing import Any, cast

import orjson
from sqlalchemy import JSON, Table, bindparam
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from voltline_store import UTCDateTime

OnConflict = Callable[[Any], Any]  # the dialect's Insert -> the statement to run
_Compiled = tuple[str, list[str], list[Callable[[Any], Any] | None]]
_cache: dict[tuple[str, tuple[str, ...], str, str], _Compiled] = {}


_texts: dict[datetime, str] = {}  # hours and bucket starts repeat: format each once


def _sqlite_time(value: datetime | None) -> str | None:
    if value is None:
        return None
    text = _texts.get(value)
    if text is not None:
        return text
    if value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware one")
    v = value.astimezone(UTC)
    text = f"{v.year:04d}-{v.month:02d}-{v.day:02d} {v.hour:02d}:{v.minute:02d}:{v.second:02d}.{v.microsecond:06d}"
    if len(_texts) > 100_000:
        _texts.clear()
    _texts[value] = text
    return text


def _aware_time(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError(f"naive datetime {value!r}: pass an aware one")
    return value


def _json_default(value: Any) -> str:
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"not JSON serializable: {type(value).__name__}")


def _json_text(value: Any) -> str:
    """Timestamps as ISO 8601 (`datetime.isoformat()`'s text, written by orjson), decimals as their text."""
    return orjson.dumps(value, default=_json_default).decode()


def _converter(table: Table, name: str, dialect: str) -> Callable[[Any], Any] | None:
    kind = table.c[name].type
    if isinstance(kind, UTCDateTime):
        return _sqlite_time if dialect == "sqlite" else _aware_time
    if isinstance(kind, JSON):
        return _json_text
    return None


async def insert_many(
    session: AsyncSession,
    table: Table,
    rows: Sequence[Any],
    *,
    on_conflict: OnConflict | None = None,
    shape: str = "",
    columns: Sequence[str] | None = None,
) -> None:
    """INSERT `rows` (dicts with the same keys, or with `columns` tuples in that order: no dict per row) in one
    driver call; `on_conflict` turns it into an upsert (`shape` names that variant in the statement cache)."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    names = tuple(columns) if columns is not None else tuple(rows[0])
    key = (table.name, names, shape, dialect.name)
    compiled = _cache.get(key)
    if compiled is None:
        stmt: Any = (pg_insert if dialect.name == "postgresql" else sqlite_insert)(table)
        stmt = stmt.values({n: bindparam(n) for n in names})
        if on_conflict is not None:
            stmt = on_conflict(stmt)
        done = stmt.compile(dialect=dialect)
        order = list(done.positiontup or ())
        sql = _from_arrays(str(done)) if dialect.name == "postgresql" else str(done)
        compiled = _cache[key] = (sql, order, [_converter(table, n, dialect.name) for n in order])
    sql, order, converters = compiled
    params: list[Any]
    if columns is not None and order == list(names):
        params = list(rows)
    else:
        pick = itemgetter(*(names.index(n) for n in order)) if columns is not None else itemgetter(*order)
        params = [(pick(row),) for row in rows] if len(order) == 1 else [pick(row) for row in rows]
    converting = [(i, c) for i, c in enumerate(converters) if c is not None]
    if converting and all(c is _aware_time for _, c in converting):  # PostgreSQL's timestamps: only checked
        for i, c in converting:
            for values in params:
                c(values[i])
    elif converting:  # only the timestamp and JSON columns: most values go to the driver as they are
        for r, values in enumerate(params):
            values = list(values)
            for i, c in converting:
                values[i] = c(values[i])
            params[r] = tuple(values)
    conn = await session.connection()
    if dialect.name != "postgresql":
        await conn.exec_driver_sql(sql, params)
        return
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is not None and driver.is_in_transaction():  # the caller's transaction has begun: COPY in it
        if on_conflict is None:
            await driver.copy_records_to_table(table.name, records=params, columns=order)
        else:
            await _staged_upsert(driver, table.name, sql, order, params)
        return
    # outside a begun transaction (nothing calls it so today): one statement over one array per column
    await conn.exec_driver_sql(sql, tuple(list(column) for column in zip(*params, strict=True)))


async def _staged_upsert(
    driver: Any, table: str, sql: str, order: list[str], params: list[Any], fetch: bool = False
) -> list[Any] | None:
    """An upsert on PostgreSQL: the rows COPYed into a temporary table of the same shape (binary, encoded per
    value by the driver; arrays cost a Python-level type check per element), then moved into `table` by one
    `INSERT .. SELECT` that empties the staging table as it reads it. With `fetch`, the rows of the statement's
    RETURNING clause (the driver's records)."""
    staging = f"voltline_in_{table}"
    columns = ", ".join(order)
    # the table's column types without its constraints: a row may leave out a column the move does not name
    await driver.execute(f"CREATE TEMP TABLE IF NOT EXISTS {staging} AS SELECT * FROM {table} WITH NO DATA")
    await driver.copy_records_to_table(staging, records=params, columns=order)
    head, _, tail = sql.partition(" SELECT * FROM unnest(")
    tail = tail[tail.index(")") + 1 :]  # the casts' closing parenthesis: what follows is ON CONFLICT ..
    moving = f"WITH moved AS (DELETE FROM {staging} RETURNING {columns}) {head} SELECT {columns} FROM moved{tail}"
    if fetch:
        return list(await driver.fetch(moving))
    await driver.execute(moving)
    return None


async def upsert_returning(
    session: AsyncSession, table: str, sql: str, order: list[str], params: list[Any]
) -> list[Any]:
    """PostgreSQL: run `sql` (an `INSERT .. SELECT * FROM unnest($1::T[] ..) ON CONFLICT .. RETURNING ..` over
    the columns `order`) for the tuples `params`, and return the rows it returns, as tuples. Inside a begun
    transaction by COPY into a staging table (no per-element check of arrays, no result rows built by
    SQLAlchemy); else as the array statement itself."""
    conn = await session.connection()
    driver = (await conn.get_raw_connection()).driver_connection
    if driver is not None and driver.is_in_transaction():
        return [tuple(r) for r in await _staged_upsert(driver, table, sql, order, params, fetch=True) or ()]
    result = await conn.exec_driver_sql(sql, tuple(list(column) for column in zip(*params, strict=True)))
    return [tuple(r) for r in result.all()]


_VALUES = re.compile(r"VALUES \((\$1::.*?)\)(?= ON CONFLICT| RETURNING|$)")
_RETURNING = re.compile(r" RETURNING [^()]*$")  # the id SQLAlchemy asks back: nothing reads it
_PARAM = re.compile(r"(\$\d+::[A-Z ]+?)(?=, \$|$)")


def _from_arrays(sql: str) -> str:
    """`INSERT .. VALUES ($1::T1, $2::T2 ..)` as `INSERT .. SELECT * FROM unnest($1::T1[], $2::T2[] ..)`: all
    rows in one statement on PostgreSQL. The server runs one insert over the arrays instead of one execution
    per row of an executemany (about half its CPU for a replay's rows); the rows' keys must be distinct, as
    they are here (ON CONFLICT cannot update a row twice in one statement)."""
    sql = _RETURNING.sub("", sql)
    found = _VALUES.search(sql)
    if found is None:
        raise ValueError(f"not a single-row VALUES insert: {sql[:80]}")
    casts = _PARAM.findall(found.group(1))
    if len(casts) != found.group(1).count("$"):
        raise ValueError(f"unexpected parameters: {found.group(1)[:80]}")
    arrays = ", ".join(f"{cast}[]" for cast in casts)
    return f"{sql[: found.start()]}SELECT * FROM unnest({arrays}){sql[found.end() :]}"


_PG_CASTS = {str: "text", int: "bigint", datetime: "timestamptz"}


async def select_by_keys(
    session: AsyncSession,
    table: Table,
    key: Sequence[str],
    keys: Sequence[tuple[Any, ...]],
    value: str,
    chunk: int = 500,
) -> dict[tuple[Any, ...], Any]:
    """`value` of the rows whose `key` columns (a unique index's) equal one of `keys`: one index seek per key,
    the keys joined in as a VALUES list. (`a IN (..) AND b IN (..)` seeks by one column and filters the rest,
    so its cost grew with the table; SQLite does not seek row-value IN lists by index.)"""
    if not keys:
        return {}
    dialect = session.get_bind().dialect.name
    pg = dialect == "postgresql"
    converters = [_converter(table, name, dialect) for name in key]
    # PostgreSQL types a VALUES column by its first row: cast that row's parameters.
    casts = [f"::{_PG_CASTS[type(v)]}" if pg else "" for v in (*keys[0], 0)]
    columns = [*key, "i"] if pg else [f"column{n + 1}" for n in range(len(key) + 1)]
    alias = f"v({', '.join(columns)})" if pg else "v"
    on = " AND ".join(f"t.{k} = v.{c}" for k, c in zip(key, columns, strict=False))
    conn = await session.connection()
    found: dict[tuple[Any, ...], Any] = {}
    for start in range(0, len(keys), chunk):
        part = keys[start : start + chunk]
        params: list[Any] = []
        rows = []
        for i, k in enumerate(part):
            slots = []
            for v, c, typed in zip((*k, i), (*converters, None), casts, strict=True):
                params.append(v if c is None else c(v))
                slots.append((f"${len(params)}" if pg else "?") + (typed if i == 0 else ""))
            rows.append(f"({', '.join(slots)})")
        sql = (f"SELECT v.{columns[-1]}, t.{value} FROM (VALUES {', '.join(rows)}) AS {alias} "
               f"JOIN {table.name} AS t ON {on}")  # fmt: skip
        result = await conn.exec_driver_sql(sql, tuple(params))
        for index, got in cast("list[tuple[int, Any]]", result.all()):
            found[part[index]] = got
    return found
