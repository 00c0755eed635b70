"""The outbox commits and rolls back with the state change; the inbox admits each event once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import uuid4

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from voltline_events import Envelope, station_key
from voltline_store import Inbox, UnitOfWork, outbox_table


def _event(station: str, n: int = 0) -> Envelope:
    return Envelope(type="test.status", schema_version=1, source="test", station_id=station, payload={"n": n})


class _WakeCounter:
    def __init__(self) -> None:
        self.wakes = 0

    def wake(self) -> None:
        self.wakes += 1


async def _count(engine: AsyncEngine, table: sa.Table) -> int:
    async with engine.connect() as conn:
        return (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()


async def test_outbox_row_commits_with_the_state_change(engine: AsyncEngine, sessions, schema) -> None:
    relay = _WakeCounter()
    envelope = _event("CP-1")
    async with UnitOfWork(sessions, relay=relay) as uow:  # type: ignore[arg-type]
        await uow.session.execute(
            sa.insert(schema.stations).values(id="CP-1", status="Available", updated_at=datetime.now(UTC))
        )
        uow.outbox.add("stations", envelope, key=station_key("CP-1"))
        await uow.commit()
    assert relay.wakes == 1

    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(outbox_table))).one()
    assert (row.topic, row.key, row.event_id) == ("stations", b"CP-1", envelope.event_id)
    assert Envelope.from_bytes(row.value) == envelope
    assert row.published_at is None and row.attempts == 0
    assert row.created_at.tzinfo is UTC
    assert await _count(engine, schema.stations) == 1


async def test_outbox_row_disappears_with_a_rollback(engine: AsyncEngine, sessions, schema) -> None:
    relay = _WakeCounter()
    with pytest.raises(RuntimeError):
        async with UnitOfWork(sessions, relay=relay) as uow:  # type: ignore[arg-type]
            await uow.session.execute(
                sa.insert(schema.stations).values(id="CP-1", status="Available", updated_at=datetime.now(UTC))
            )
            uow.outbox.add("stations", _event("CP-1"))
            await uow.session.flush()  # the row really was written, inside the transaction
            raise RuntimeError("handler failed after writing")

    async with UnitOfWork(sessions, relay=relay) as uow:  # type: ignore[arg-type]
        uow.outbox.add("stations", _event("CP-2"))
        # leaving without commit() rolls back too

    assert await _count(engine, outbox_table) == 0
    assert await _count(engine, schema.stations) == 0
    assert relay.wakes == 0


async def test_outbox_keeps_call_order_and_read_only_commits_do_not_wake(engine: AsyncEngine, sessions) -> None:
    relay = _WakeCounter()
    events = [_event("CP-1", n) for n in range(50)]
    async with UnitOfWork(sessions, relay=relay) as uow:  # type: ignore[arg-type]
        for envelope in events:
            uow.outbox.add("stations", envelope)
        await uow.commit()
        await uow.commit()  # nothing new since the last commit
    async with UnitOfWork(sessions, relay=relay) as uow:  # type: ignore[arg-type]
        await uow.session.execute(sa.select(1))
        await uow.commit()
    assert relay.wakes == 1
    async with engine.connect() as conn:
        ids = (await conn.execute(sa.select(outbox_table.c.event_id).order_by(outbox_table.c.id))).scalars().all()
    assert ids == [e.event_id for e in events]


async def test_inbox_first_time_then_never_again(sessions: async_sessionmaker[AsyncSession]) -> None:
    event_id = uuid4()
    async with UnitOfWork(sessions) as uow:
        assert await uow.inbox.first_time("billing", event_id) is True
        assert await uow.inbox.first_time("billing", event_id) is False  # even within one transaction
        await uow.commit()
    async with UnitOfWork(sessions) as uow:
        assert await uow.inbox.first_time("billing", event_id) is False
        assert await uow.inbox.first_time("analytics", event_id) is True  # consumers are independent
        await uow.commit()


async def test_inbox_marker_rolls_back_with_the_handler(engine: AsyncEngine, sessions, schema) -> None:
    """A handler that fails leaves no marker, so the redelivery is processed for real."""
    event_id = uuid4()
    with pytest.raises(RuntimeError):
        async with UnitOfWork(sessions) as uow:
            assert await uow.inbox.first_time("billing", event_id)
            await uow.session.execute(sa.insert(schema.effects).values(event_id=event_id, seq=1))
            raise RuntimeError("crash before commit")
    async with UnitOfWork(sessions) as uow:
        assert await uow.inbox.first_time("billing", event_id)
        await uow.session.execute(sa.insert(schema.effects).values(event_id=event_id, seq=1))
        await uow.commit()
    assert await _count(engine, schema.effects) == 1


async def test_concurrent_first_time_admits_exactly_one(engine: AsyncEngine, sessions, schema) -> None:
    """Racing deliveries of one event (a rebalance, a duplicate send): exactly one handler's effects land."""
    event_id = uuid4()
    racers = 8
    barrier = asyncio.Barrier(racers)

    async def deliver() -> bool:
        async with UnitOfWork(sessions) as uow:
            await barrier.wait()
            first = await Inbox(uow.session).first_time("billing", event_id)
            if first:
                await uow.session.execute(sa.insert(schema.effects).values(event_id=event_id, seq=1))
                await asyncio.sleep(0.05)  # keep the transaction open while the others arrive
            await uow.commit()
            return first

    results = await asyncio.gather(*(deliver() for _ in range(racers)))
    assert results.count(True) == 1
    assert await _count(engine, schema.effects) == 1


async def test_batches_of_any_size_reuse_one_statement_text(engine: AsyncEngine, sessions) -> None:
    """On PostgreSQL a batch's inbox markers and the relay's marking of published rows are one statement text
    whatever the size (an array parameter): asyncpg prepares a text once per connection, and a VALUES or IN
    list as long as the batch was a new text, a prepare and a round trip more, for every batch size."""
    from voltline_store import OutboxRelay, TransactionBatch

    class Publisher:
        async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None:
            pass

    statements: list[str] = []
    sa.event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    relay = OutboxRelay(engine, Publisher(), batch_size=100)
    for size in (2, 3, 7):
        envelopes = [_event(f"CP-{size}", n) for n in range(size)]
        async with TransactionBatch(sessions, inbox_consumer="c")(envelopes) as batch:
            for envelope in envelopes:
                assert await batch.inbox.first_time("c", envelope.event_id)
                batch.outbox.add("topic-a", envelope)
        assert await relay.run_once() == size
    markers = {s for s in statements if "INSERT INTO INBOX" in s.upper()}  # PostgreSQL's in a WITH
    marked = {s for s in statements if s.lstrip().upper().startswith("UPDATE OUTBOX")}
    texts = 1 if engine.dialect.name == "postgresql" else 3  # SQLite prepares nothing over a network
    assert len(marked) == texts, marked
    # The markers are one text on both (an array parameter: unnest, or json_each on SQLite, which also spares
    # SQLAlchemy's per-row bind processing).
    assert len(markers) == 1, markers


async def test_a_batchs_markers_tell_the_redelivered_events_from_the_new_ones(engine: AsyncEngine, sessions) -> None:
    """The batch's up-front markers come back only for the events marked already (a redelivery): those are not
    first-timers, every other one is, once; an unclaimed fresh marker is forgotten at the commit."""
    from voltline_store import TransactionBatch

    old = [_event("CP-R", n) for n in range(3)]
    async with TransactionBatch(sessions, inbox_consumer="c")(old) as batch:
        for envelope in old:
            assert await batch.inbox.first_time("c", envelope.event_id)
    new = [_event("CP-R", n) for n in range(3, 6)]
    mixed = [new[0], old[1], new[1], old[0], new[2]]
    async with TransactionBatch(sessions, inbox_consumer="c")(mixed) as batch:
        answers = [await batch.inbox.first_time("c", e.event_id) for e in mixed[:-1]]
        assert await batch.inbox.first_time("c", new[0].event_id) is False  # claimed once
    assert answers == [True, False, True, False]
    async with TransactionBatch(sessions, inbox_consumer="c")([new[2], old[2]]) as batch:
        assert [await batch.inbox.first_time("c", e.event_id) for e in (new[2], old[2])] == [True, False]
