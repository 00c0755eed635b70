"""UTCDateTime and the engine's per-dialect settings."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from uuid import uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncEngine
from voltline_devinfra.waiting import eventually
from voltline_store import Reader, check_database, create_engine, run_migrations
from voltline_store import engine as engine_module

BERLIN_SUMMER = timezone(timedelta(hours=2))


async def test_utc_datetime_round_trips_aware_utc(engine: AsyncEngine, schema) -> None:
    local = datetime(2026, 6, 1, 14, 30, 15, 123456, tzinfo=BERLIN_SUMMER)
    async with engine.begin() as conn:
        await conn.execute(sa.insert(schema.stations).values(id="CP-1", status="Available", updated_at=local))
    async with engine.connect() as conn:
        stored = (await conn.execute(sa.select(schema.stations.c.updated_at))).scalar_one()
    assert stored == local
    assert stored.tzinfo is UTC
    assert stored.hour == 12  # the same instant, expressed in UTC
    assert stored.microsecond == 123456


async def test_utc_datetime_compares_instants_in_sql(engine: AsyncEngine, schema) -> None:
    """Comparisons happen in SQL on stored values; on SQLite that is text, so the zone must be normalised."""
    t = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
    async with engine.begin() as conn:
        await conn.execute(
            sa.insert(schema.stations),
            [
                {"id": "early", "status": "x", "updated_at": t - timedelta(minutes=1)},
                {"id": "late", "status": "x", "updated_at": t + timedelta(minutes=1)},
            ],
        )
    # 13:00+02:00 is 11:00 UTC: earlier than both rows, although "13:00" > "12:00" as text.
    async with engine.connect() as conn:
        before = datetime(2026, 1, 1, 13, 0, tzinfo=BERLIN_SUMMER)
        rows = (await conn.execute(sa.select(schema.stations.c.id).where(schema.stations.c.updated_at > before))).all()
        ordered = (await conn.execute(sa.select(schema.stations.c.id).order_by(schema.stations.c.updated_at))).all()
    assert {r.id for r in rows} == {"early", "late"}
    assert [r.id for r in ordered] == ["early", "late"]


async def test_utc_datetime_refuses_naive(engine: AsyncEngine, schema) -> None:
    with pytest.raises(StatementError, match="naive"):
        async with engine.begin() as conn:
            await conn.execute(
                sa.insert(schema.stations).values(id="CP-2", status="x", updated_at=datetime(2026, 1, 1))
            )


async def test_sqlite_engine_settings(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "there.sqlite3"
    engine = create_engine(f"sqlite+aiosqlite:///{path}")
    try:
        await check_database(engine)
        assert path.exists()
        async with engine.connect() as conn:
            assert (await conn.exec_driver_sql("PRAGMA journal_mode")).scalar() == "wal"
            assert (await conn.exec_driver_sql("PRAGMA foreign_keys")).scalar() == 1
            assert (await conn.exec_driver_sql("PRAGMA busy_timeout")).scalar() >= 1000
    finally:
        await engine.dispose()


async def test_reader_reads_committed_rows_without_waiting_for_a_writer_and_never_writes(
    db_url: str, migrations_dir: Path, schema
) -> None:
    await run_migrations(db_url, migrations_dir)
    engine = create_engine(db_url)
    reader = Reader(engine)
    now = datetime.now(UTC)
    try:
        async with engine.begin() as conn:
            await conn.execute(sa.insert(schema.stations).values(id="CS-1", status="ok", updated_at=now))
        writer = await engine.connect()
        await writer.begin()  # on SQLite: holds the write lock until rolled back
        await writer.execute(sa.insert(schema.stations).values(id="CS-2", status="ok", updated_at=now))
        try:
            async with asyncio.timeout(2):
                rows = await reader.all(sa.select(schema.stations.c.id, schema.stations.c.updated_at))
            assert [(r.id, r.updated_at) for r in rows] == [("CS-1", now)]  # committed rows, column types applied
        finally:
            await writer.rollback()
            await writer.close()
        with pytest.raises(sa.exc.DBAPIError):  # query_only on SQLite, a READ ONLY transaction on PostgreSQL
            await reader.all(sa.insert(schema.stations).values(id="CS-3", status="ok", updated_at=now))
    finally:
        reader.close()
        await engine.dispose()


async def test_sqlite_enforces_foreign_keys(sqlite_url: str, migrations_dir: Path, schema) -> None:
    await run_migrations(sqlite_url, migrations_dir)  # migrations run with them off; services with them on
    engine = create_engine(sqlite_url)
    try:
        with pytest.raises(sa.exc.IntegrityError):
            async with engine.begin() as conn:
                await conn.execute(sa.insert(schema.effects).values(event_id=uuid4(), station_id="nope", seq=1))
    finally:
        await engine.dispose()


async def test_check_database_does_not_wait_for_a_sqlite_writer(tmp_path: Path) -> None:
    """/readyz must answer while a consumer's batch holds SQLite's write lock."""
    url = f"sqlite+aiosqlite:///{tmp_path}/busy.db"
    writer, checker = create_engine(url), create_engine(url)
    try:
        async with writer.begin() as conn:
            await conn.execute(sa.text("CREATE TABLE t (x INTEGER)"))
        async with writer.connect() as conn:
            await conn.execute(sa.text("INSERT INTO t VALUES (1)"))  # the write lock is held from here
            await check_database(checker, limit_s=2.0)  # raises TimeoutError if it waits for the lock
            await conn.commit()
    finally:
        await writer.dispose()
        await checker.dispose()


async def test_check_database_raises_when_unreachable(tmp_path: Path) -> None:
    engine = create_engine("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    try:
        with pytest.raises((OSError, TimeoutError, sa.exc.DBAPIError)):
            await check_database(engine, limit_s=5)
    finally:
        await engine.dispose()


async def _backend_pid(engine: AsyncEngine) -> int:
    async with engine.connect() as conn:
        return int((await conn.execute(sa.text("SELECT pg_backend_pid()"))).scalar_one())


@pytest.mark.parametrize("idle", ["long idle", "just used"])
async def test_a_pooled_connection_the_server_dropped_is_replaced(
    pg_url: str, idle: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A PostgreSQL restart leaves dead sockets in the pool. One that sat idle is pinged and replaced before use;
    one handed back a moment ago is not pinged (no round trips per consumer batch): its first statement fails as a
    disconnect, which discards it, and the next checkout (a consumer's retry) gets a new connection."""
    monkeypatch.setattr(engine_module, "PING_AFTER_IDLE_S", 0.0 if idle == "long idle" else 3600.0)
    engine, killer = create_engine(pg_url, pool_size=1, max_overflow=0), create_engine(pg_url)
    try:
        pid = await _backend_pid(engine)
        async with killer.connect() as conn:
            await conn.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})

        async def gone() -> bool:
            async with killer.connect() as conn:
                query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE pid = :pid")
                return (await conn.execute(query, {"pid": pid})).scalar_one() == 0

        await eventually(gone, what="the pooled connection's backend to end")
        if idle == "just used":
            with pytest.raises(sa.exc.DBAPIError) as failed:
                await _backend_pid(engine)
            assert failed.value.connection_invalidated
        assert await _backend_pid(engine) != pid
    finally:
        await engine.dispose()
        await killer.dispose()


def test_url_without_driver_gets_the_async_one() -> None:
    assert create_engine("postgresql://u@h/db").dialect.driver == "asyncpg"
    assert create_engine("sqlite:///:memory:").dialect.driver == "aiosqlite"
    with pytest.raises(ValueError, match="unsupported"):
        create_engine("mysql://u@h/db")
