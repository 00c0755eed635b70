"""Statements planned for their values: PostgreSQL's cached generic plans and a store that starts empty.

asyncpg prepares each statement text once per connection. PostgreSQL plans a prepared statement for its
parameters' values five times, then keeps one generic plan when it costs no more than those did, until an
ANALYZE (or a VACUUM) of a table it reads invalidates it. A new deployment's tables are empty, so its first
batches settle on the plan that suits empty tables: for `col = ANY($1)` that is often a sequential scan testing
every row against the whole array, which a table of 100,000 rows turns into 50-100 ms a statement, for as long
as autovacuum has not analysed the table (never, for a table whose updates stay under its threshold).

`custom_plans` makes the statements run inside it be planned for their values every time (~0.1-0.2 ms of
planning for an array of a few hundred ids), and gives the connection back its cached plans after them, so
per-row writes keep theirs. For the batch reads by arrays of ids and the relay's marking, not for everything:
a custom plan per row of an executemany would cost more than it saves.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
CACHED_PLANS = "SET LOCAL plan_cache_mode = auto"


@asynccontextmanager
async def custom_plans(db: AsyncSession | AsyncConnection, *, restore: bool = True) -> AsyncIterator[None]:
    """Plan the statements run inside for their values (PostgreSQL; nothing elsewhere). In a transaction.

    `SET LOCAL` lasts until the transaction ends: a statement failing inside aborts the transaction (which
    undoes the setting), so the setting is restored only when the block completes; `restore=False` leaves it
    to the transaction's end (for a block that is the transaction's last work: one round trip less).
    Both are sent on the driver's connection (asyncpg's simple query), ~25 µs of client CPU each, where
    SQLAlchemy's `exec_driver_sql` cost ~70."""
    conn = await db.connection() if isinstance(db, AsyncSession) else db
    if conn.dialect.name != "postgresql":
        yield
        return
    raw: Any = (await conn.get_raw_connection()).driver_connection
    if not raw.is_in_transaction():  # SQLAlchemy's adapter sends BEGIN with its first statement
        await conn.exec_driver_sql("SELECT 1")
    await raw.execute(CUSTOM_PLANS)
    yield
    if restore:
        await raw.execute(CACHED_PLANS)
