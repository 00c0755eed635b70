"""Statements that read by arrays of ids are planned for their ids, not once for the empty tables of a new store."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa
from voltline_events import Envelope
from voltline_store import OutboxRelay, UnitOfWork, create_engine, custom_plans, run_migrations, session_factory

MIGRATIONS = Path(__file__).parent / "migrations"
PLANS = "SELECT statement, generic_plans, custom_plans FROM pg_prepared_statements"


class Publisher:
    async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None:
        pass


async def _plans(conn: sa.ext.asyncio.AsyncConnection, like: str) -> tuple[int, int]:
    rows = (await conn.exec_driver_sql(PLANS)).all()
    found = [(g, c) for text, g, c in rows if like in text]
    assert len(found) == 1, rows
    return found[0]


async def test_the_relays_marking_is_planned_for_its_ids_not_once_for_an_empty_outbox(pg_url: str) -> None:
    """A new service's outbox is empty: after five rounds the marking's prepared statement used to keep the
    generic plan made for an empty table (a sequential scan of the whole outbox, published rows included,
    ~250 ms a round at 100,000 rows) until an ANALYZE. Each round's marking now gets a plan for its ids."""
    await run_migrations(pg_url, MIGRATIONS)
    engine = create_engine(pg_url, pool_size=1, max_overflow=0)  # one connection: its prepared statements
    try:
        sessions = session_factory(engine)
        relay = OutboxRelay(engine, Publisher(), name="plans")
        for n in range(8):
            async with UnitOfWork(sessions) as uow:
                uow.outbox.add("t", Envelope(type="t", schema_version=1, source="test", payload={"n": n}))
                await uow.commit()
            assert await relay.run_once() == 1
        async with engine.connect() as conn:
            assert await _plans(conn, "UPDATE outbox SET published_at") == (0, 8)
            assert await conn.scalar(sa.text("SHOW plan_cache_mode")) == "auto"
    finally:
        await engine.dispose()


async def test_custom_plans_lasts_for_its_block_and_is_nothing_on_sqlite(pg_url: str, sqlite_url: str) -> None:
    for url in (pg_url, sqlite_url):
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                async with custom_plans(conn):
                    if conn.dialect.name == "postgresql":
                        assert await conn.scalar(sa.text("SHOW plan_cache_mode")) == "force_custom_plan"
                    assert await conn.scalar(sa.text("SELECT 1")) == 1
                if conn.dialect.name == "postgresql":
                    assert await conn.scalar(sa.text("SHOW plan_cache_mode")) == "auto"
        finally:
            await engine.dispose()
