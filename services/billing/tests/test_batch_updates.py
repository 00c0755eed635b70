"""session.updated in a consumer batch: one read and one write per session, the same result as one by one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from voltline_billing.adapters.orm import billing_sessions
from voltline_billing.adapters.tariff_repository import SessionRepository
from voltline_events import envelope_for
from voltline_events.payloads import SessionUpdated
from voltline_store import TransactionBatch, create_engine, run_migrations, session_factory

MIGRATIONS = Path(__file__).resolve().parents[1] / "src" / "voltline_billing" / "migrations"
T0 = datetime(2026, 12, 1, 8, tzinfo=UTC)


async def test_a_batch_reads_a_session_once_and_writes_its_updates_once(sqlite_url: str) -> None:
    await run_migrations(sqlite_url, MIGRATIONS)
    engine = create_engine(sqlite_url)
    factory = session_factory(engine)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "billing_sessions" in statement:
            statements.append(statement.split()[0])

    try:
        async with factory() as db:
            await db.execute(
                billing_sessions.insert().values(
                    session_id="S1", station_id="CP-1", started_at=T0, energy_wh=0, status="active"
                )
            )
            await db.commit()
        sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
        async with TransactionBatch(factory)([]) as batch:
            for n in range(1, 6):  # what billing's session.updated handler does for each event
                repo = SessionRepository(batch.session)
                row = await repo.get("S1")
                assert row is not None and row["energy_wh"] == (n - 1) * 100  # each sees the one before
                await repo.update("S1", energy_wh=n * 100, last_at=T0 + timedelta(minutes=n))
        sa.event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert statements == ["SELECT", "UPDATE"]
        async with factory() as db:
            row = (await db.execute(sa.select(billing_sessions))).one()
        assert (row.energy_wh, row.last_at) == (500, T0 + timedelta(minutes=5))
    finally:
        await engine.dispose()


async def test_a_batch_reads_all_its_sessions_in_one_query_and_writes_them_in_one_statement(sqlite_url: str) -> None:
    await run_migrations(sqlite_url, MIGRATIONS)
    engine = create_engine(sqlite_url)
    factory = session_factory(engine)
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "billing_sessions" in statement:
            statements.append(statement.split()[0])

    ids = ["S1", "S2", "S3"]
    updates = [
        envelope_for(
            SessionUpdated(session_id=sid, station_id="CP-1", energy_wh=100 * n, at=T0 + timedelta(minutes=n)),
            source="session",
            station_id="CP-1",
            session_id=sid,
        )
        for n in range(1, 4)
        for sid in [*ids, "S-unknown"]
    ]
    try:
        async with factory() as db:
            for sid in ids:
                await db.execute(
                    billing_sessions.insert().values(
                        session_id=sid, station_id="CP-1", started_at=T0, energy_wh=0, status="active"
                    )
                )
            await db.commit()
        sa.event.listen(engine.sync_engine, "before_cursor_execute", count)
        async with TransactionBatch(factory)(updates) as batch:
            for envelope in updates:  # what billing's session.updated handler does for each event
                repo = SessionRepository(batch.session)
                row = await repo.get(envelope.session_id)
                if row is not None:
                    await repo.update(envelope.session_id, energy_wh=envelope.payload["energy_wh"])
        sa.event.remove(engine.sync_engine, "before_cursor_execute", count)
        assert statements == ["SELECT", "UPDATE"]  # the unknown session too was answered by the one read
        async with factory() as db:
            rows = (await db.execute(sa.select(billing_sessions.c.session_id, billing_sessions.c.energy_wh))).all()
        assert sorted(rows) == [(sid, 300) for sid in ids]
    finally:
        await engine.dispose()
