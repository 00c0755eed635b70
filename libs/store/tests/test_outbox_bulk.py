"""The outbox's bulk path: `Outbox.add` queues rows, one driver-level executemany inserts them; the relay reads
them back as plain rows. Same guarantees as one ORM insert per row: call order, rollback, read-your-writes."""

from __future__ import annotations

from datetime import UTC
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from voltline_events import Envelope, station_key
from voltline_store import OutboxRelay, TransactionBatch, UnitOfWork, outbox_table


def _event(station: str, n: int = 0) -> Envelope:
    return Envelope(type="test.status", schema_version=1, source="test", station_id=station, payload={"n": n})


def _outbox_inserts(engine: AsyncEngine) -> list[tuple[bool, int]]:
    """(executemany?, parameter sets) of every INSERT INTO outbox the engine runs from now on."""
    seen: list[tuple[bool, int]] = []

    def record(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO OUTBOX"):
            seen.append((executemany, len(parameters) if executemany else 1))

    sa.event.listen(engine.sync_engine, "before_cursor_execute", record)
    return seen


class _Recorder:
    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes | None]] = []

    async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None:
        self.sent.append((topic, envelope.to_bytes(), key))

    async def publish_many_stored(self, items: list[tuple[str, bytes, bytes | None]]) -> None:
        self.sent += items


async def test_a_transaction_inserts_its_rows_in_one_executemany_in_call_order(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    inserts = _outbox_inserts(engine)
    envelopes = [_event(f"CP-{n % 3}", n) for n in range(40)]
    async with UnitOfWork(sessions) as uow:
        for n, envelope in enumerate(envelopes):
            uow.outbox.add("topic-a", envelope, key=None if n % 2 else station_key(envelope.station_id or ""))
        await uow.commit()
    assert inserts == [(True, 40)]

    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox_table).order_by(outbox_table.c.id))).all()
    assert [r.event_id for r in rows] == [e.event_id for e in envelopes]
    assert [Envelope.from_bytes(r.value) for r in rows] == envelopes
    assert [r.key for r in rows][:2] == [b"CP-0", None]
    assert all(r.created_at.tzinfo is UTC and r.published_at is None and r.attempts == 0 for r in rows)

    # The relay's plain-row read gives them back in the same order, bytes untouched.
    bus = _Recorder()
    assert await OutboxRelay(engine, bus, batch_size=100).run_once() == 40
    assert bus.sent == [(r.topic, r.value, r.key) for r in rows]


async def test_the_transaction_reads_its_queued_rows_and_a_rollback_forgets_them(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    count = sa.select(sa.func.count()).select_from(outbox_table)
    session = sessions()
    try:
        async with UnitOfWork(sessions) as uow:
            uow.outbox.add("topic-a", _event("CP-1", 1))
            uow.outbox.add("topic-a", _event("CP-1", 2))
            assert await uow.session.scalar(count) == 2  # written before the statement, as autoflush did
            await uow.rollback()
        # Queued and never written, then rolled back: the session's next transaction does not insert them.
        from voltline_store import Outbox

        outbox = Outbox(session)
        outbox.add("topic-a", _event("CP-2"))
        await session.rollback()
        await session.commit()
        assert await session.scalar(count) == 0
    finally:
        await session.close()


async def test_a_consumer_batch_inserts_all_its_handlers_rows_at_once(
    engine: AsyncEngine, sessions: async_sessionmaker[AsyncSession]
) -> None:
    inserts = _outbox_inserts(engine)
    envelopes = [_event("CP-1", n) for n in range(25)]
    async with TransactionBatch(sessions, inbox_consumer="c")(envelopes) as batch:
        for envelope in envelopes:
            async with UnitOfWork(sessions) as uow:
                assert await uow.inbox.first_time("c", envelope.event_id)
                await uow.session.execute(sa.select(sa.literal(1)))  # a handler's own statements write nothing
                uow.outbox.add("topic-b", envelope)
                await uow.commit()
    assert inserts == [(True, 25)]
    assert batch.outbox.added == 25
    async with engine.connect() as conn:
        ids = (await conn.execute(sa.select(outbox_table.c.event_id).order_by(outbox_table.c.id))).scalars().all()
    assert ids == [e.event_id for e in envelopes]
