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

from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

CUSTOM_PLANS = "SET LOCAL plan_cache_mode = force_custom_plan"
CACHED_PLANS = "SET LOCAL plan_cache_mode = auto"


@asynccontextmanager
async def custom_plans(db: AsyncSession | AsyncConnection) -> AsyncIterator[None]:
    """Plan the statements run inside for their values (PostgreSQL; nothing elsewhere). In a transaction.

    `SET LOCAL` lasts until the transaction ends: a statement failing inside aborts the transaction (which
    undoes the setting), so the setting is restored only when the block completes."""
    conn = await db.connection() if isinstance(db, AsyncSession) else db
    if conn.dialect.name != "postgresql":
        yield
        return
    await conn.exec_driver_sql(CUSTOM_PLANS)
    yield
    await conn.exec_driver_sql(CACHED_PLANS)
