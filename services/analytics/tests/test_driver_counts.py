"""Reference counts of drivers per bucket: PostgreSQL's path (COPY into a staging table, one upsert that returns
the new counts) changes the store and reports each bucket's change of unique drivers exactly as SQLite's path
(read by key, then insert/update/delete) does, as counts go up, down, to zero and back."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from voltline_analytics.adapters import orm
from voltline_analytics.adapters.buckets import _count_drivers
from voltline_analytics.bootstrap import MIGRATIONS
from voltline_store import create_engine, run_migrations, session_factory

H = datetime(2026, 11, 2, 8, tzinfo=UTC)
D = datetime(2026, 11, 2, tzinfo=UTC)
A, B, C = (("station", "CP-A", "hour", H, who) for who in ("d1", "d2", "d3"))
NET = ("network", "", "day", D, "d1")
# One batch's changes each: up, some down to zero and gone, one back again.
BATCHES: list[dict[tuple[str, str, str, datetime, str], int]] = [
    {A: 2, B: 1, NET: 1},
    {A: -1, B: -1, C: 1, NET: 1},
    {A: -1, C: -1, NET: -2},
    {B: 3, NET: 1},
]


async def _run(url: str) -> tuple[list[dict[Any, int]], list[tuple[Any, ...]]]:
    await run_migrations(url, MIGRATIONS)
    engine = create_engine(url)
    sessions = session_factory(engine)
    changes = []
    for batch in BATCHES:
        async with sessions() as session, session.begin():
            changes.append(dict(await _count_drivers(session, batch)))
    async with sessions() as session:
        rows = [
            tuple(r)
            for r in await session.execute(
                select(orm.bucket_drivers).order_by(orm.bucket_drivers.c.driver_key, orm.bucket_drivers.c.scope)
            )
        ]
    await engine.dispose()
    return changes, rows


async def test_postgresql_counts_drivers_as_sqlite_does(tmp_path: Any, postgres: Any) -> None:
    sqlite = await _run(f"sqlite+aiosqlite:///{tmp_path}/drivers.db")
    assert (
        sqlite[0]
        == [
            {A[:4]: 2, NET[:4]: 1},
            {A[:4]: 0, NET[:4]: 0},  # d2 went, d3 came; d1 stayed
            {A[:4]: -2, NET[:4]: -1},
            {A[:4]: 1, NET[:4]: 1},
        ]
    )
    assert [r[4:] for r in sqlite[1]] == [("d1", 1), ("d2", 3)]
    pg = await _run(str(postgres.create_database(f"drivers_{secrets.token_hex(4)}")))
    assert pg == sqlite
