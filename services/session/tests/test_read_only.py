"""API reads on SQLite do not queue behind a consumer batch's write lock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from voltline_events import Topics
from voltline_session.adapters.repository import SessionFilter
from voltline_session.adapters.unit_of_work import SqlSessionUnitOfWork as SessionUnitOfWork
from voltline_session.service_layer.context import SessionContext
from voltline_session.service_layer.queries import get_station, list_sessions
from voltline_store import create_engine, read_only_session_factory, run_migrations, session_factory

MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "voltline_session" / "migrations"


async def test_reads_answer_while_a_writer_holds_the_sqlite_write_lock(sqlite_url: str) -> None:
    await run_migrations(sqlite_url, MIGRATIONS)
    engine = create_engine(sqlite_url)
    writes, reads = session_factory(engine), read_only_session_factory(engine)
    ctx = SessionContext(
        uow=lambda: SessionUnitOfWork(writes),
        read_uow=lambda: SessionUnitOfWork(reads),
        topics=Topics(""),
        source="session-test",
        clock=lambda: datetime.now(UTC),
    )
    try:
        async with writes() as batch:  # BEGIN IMMEDIATE: what a consumer batch holds while it works
            await batch.execute(sa.text("UPDATE stations SET connected = connected"))
            # A unit of work that BEGINs IMMEDIATE would wait out the 10 s busy timeout here.
            found = await asyncio.wait_for(list_sessions(ctx, SessionFilter(), limit=10, offset=0), 5)
            station = await asyncio.wait_for(get_station(ctx, "CP-NONE"), 5)
        assert (found, station) == ([], None)
    finally:
        await engine.dispose()
