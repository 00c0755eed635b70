"""The relay against an in-memory publisher: order, retries without loss, wake-ups, stop, two relays."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine
from voltline_devinfra.waiting import eventually
from voltline_events import Envelope
from voltline_store import OutboxRelay, UnitOfWork, create_engine, outbox_table, run_migrations, session_factory


class RecordingPublisher:
    """Acks everything; remembers what was published, in order."""

    def __init__(self, delay: float = 0.0) -> None:
        self.sent: list[tuple[str, bytes | None, Envelope]] = []
        self.delay = delay

    async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None:
        if self.delay:
            await asyncio.sleep(self.delay)
        self.sent.append((topic, key, envelope))

    @property
    def numbers(self) -> list[int]:
        return [e.payload["n"] for _, _, e in self.sent]


class FlakyPublisher(RecordingPublisher):
    """Fails (nothing acked) on the calls numbered in `fail_calls`, like a broker that went away."""

    def __init__(self, fail_calls: set[int]) -> None:
        super().__init__()
        self.calls = 0
        self.fail_calls = fail_calls

    async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None:
        self.calls += 1
        if self.calls in self.fail_calls:
            raise ConnectionError(f"broker unavailable (call {self.calls})")
        await super().publish(topic, envelope, key=key)


class BatchPublisher(RecordingPublisher):
    """Has `publish_many`, like voltline_bus.Producer; refuses the positions in `refuse` of its first call."""

    def __init__(self, refuse: tuple[int, ...] = ()) -> None:
        super().__init__()
        self.calls: list[int] = []
        self.refuse = refuse

    async def publish_many(self, items: list[tuple[str, Envelope, bytes | None]]) -> None:
        self.calls.append(len(items))
        refused = self.refuse if len(self.calls) == 1 else ()
        for position, (topic, envelope, key) in enumerate(items):
            if position not in refused:
                self.sent.append((topic, key, envelope))
        if refused:
            error = ConnectionError("not acknowledged")
            error.failed = refused  # type: ignore[attr-defined]
            raise error


async def _write(sessions, numbers: range, relay: OutboxRelay | None = None, per_tx: int = 10) -> None:
    """State changes' events, `per_tx` to a transaction, in the order of `numbers`."""
    chunk: list[int] = []
    for n in [*numbers, None]:
        if n is not None:
            chunk.append(n)
        if chunk and (n is None or len(chunk) == per_tx):
            async with UnitOfWork(sessions, relay=relay) as uow:
                for m in chunk:
                    envelope = Envelope(type="t", schema_version=1, source="test", payload={"n": m})
                    uow.outbox.add("topic-a" if m % 2 else "topic-b", envelope, key=str(m % 7).encode())
                await uow.commit()
            chunk = []


async def test_relay_publishes_in_order_and_marks_rows(engine: AsyncEngine, sessions) -> None:
    await _write(sessions, range(250))
    publisher = RecordingPublisher()
    relay = OutboxRelay(engine, publisher, batch_size=100)
    assert await relay.pending() == 250
    assert [await relay.run_once() for _ in range(4)] == [100, 100, 50, 0]
    assert publisher.numbers == list(range(250))
    assert publisher.sent[3][0] == "topic-a" and publisher.sent[3][1] == b"3"
    assert await relay.pending() == 0
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox_table.c.published_at, outbox_table.c.attempts))).all()
    assert all(r.published_at is not None and r.published_at.tzinfo is UTC and r.attempts == 1 for r in rows)


async def test_relay_retries_failures_without_loss_or_reordering(engine: AsyncEngine, sessions) -> None:
    await _write(sessions, range(60))
    publisher = FlakyPublisher(fail_calls={5, 6, 7, 30, 58})
    relay = OutboxRelay(engine, publisher, batch_size=20, poll_interval=0.05, backoff_max=0.05, backoff_initial=0.01)
    await relay.start()
    try:
        await eventually(lambda: _pending_is_zero(relay))
    finally:
        await relay.stop()
    assert publisher.numbers == list(range(60))
    async with engine.connect() as conn:
        failed = (
            await conn.execute(
                sa.select(outbox_table.c.id, outbox_table.c.attempts, outbox_table.c.last_error).where(
                    outbox_table.c.last_error.is_not(None)
                )
            )
        ).all()
    # Row 5 (ids are 1-based) failed three times, then went through on the fourth attempt.
    by_id = {r.id: r for r in failed}
    assert by_id[5].attempts == 4 and "call 7" in by_id[5].last_error
    assert len(failed) == 3


async def test_a_publisher_with_publish_many_gets_each_batch_in_one_call(engine: AsyncEngine, sessions) -> None:
    await _write(sessions, range(50))
    publisher = BatchPublisher(refuse=(7, 9))
    relay = OutboxRelay(engine, publisher, batch_size=20)
    with_error = await relay._run_batch()  # rows 0-6 acknowledged; 7 refused (8 went, 9 refused, both go again)
    assert with_error.published == list(range(1, 8)) and with_error.failed_id == 8
    assert [await relay.run_once() for _ in range(3)] == [20, 20, 3]
    assert publisher.calls == [20, 20, 20, 3]
    assert publisher.numbers[:7] == list(range(7)) and publisher.numbers[18:] == list(range(7, 50))
    assert await relay.pending() == 0


class StoredPublisher(BatchPublisher):
    """Has `publish_many_stored` too, like voltline_bus.Producer: gets the rows' bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.stored: list[bytes] = []

    async def publish_many_stored(self, items: list[tuple[str, bytes, bytes | None]]) -> None:
        self.calls.append(len(items))
        for topic, value, key in items:
            self.stored.append(value)
            self.sent.append((topic, key, Envelope.from_bytes(value)))


async def test_a_publisher_of_stored_bytes_gets_the_rows_as_they_are(engine: AsyncEngine, sessions) -> None:
    await _write(sessions, range(30))
    publisher = StoredPublisher()
    relay = OutboxRelay(engine, publisher, batch_size=20)
    assert [await relay.run_once() for _ in range(2)] == [20, 10]
    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(outbox_table.c.value).order_by(outbox_table.c.id))).scalars().all()
    assert publisher.stored == list(rows), "the stored bytes, not an envelope decoded and encoded again"
    assert publisher.numbers == list(range(30))


async def _sent(publisher: RecordingPublisher, count: int) -> bool:
    return len(publisher.sent) >= count


async def _pending_is_zero(relay: OutboxRelay) -> bool:
    return await relay.pending() == 0


async def test_relay_keeps_rows_while_publisher_is_down(engine: AsyncEngine, sessions) -> None:
    await _write(sessions, range(5))
    publisher = FlakyPublisher(fail_calls=set(range(1, 10_000)))
    relay = OutboxRelay(engine, publisher, poll_interval=0.01, backoff_max=0.02, backoff_initial=0.01)
    await relay.start()
    await eventually(lambda: _attempted(engine, 5))
    await relay.stop()
    assert publisher.sent == []
    assert await relay.pending() == 5
    # The broker comes back: a new relay (a restart) picks up where the old one left off.
    relay = OutboxRelay(engine, RecordingPublisher(), poll_interval=0.01)
    assert await relay.run_once() == 5


async def _attempted(engine: AsyncEngine, times: int) -> bool:
    async with engine.connect() as conn:
        attempts = await conn.scalar(sa.select(sa.func.max(outbox_table.c.attempts)))
    return (attempts or 0) >= times


async def test_wake_publishes_without_waiting_for_the_poll(engine: AsyncEngine, sessions) -> None:
    publisher = RecordingPublisher()
    asleep = asyncio.Event()

    class Watched(OutboxRelay):
        async def _sleep(self, delay: float, *, wakeable: bool) -> None:
            asleep.set()
            await super()._sleep(delay, wakeable=wakeable)

    relay = Watched(engine, publisher, poll_interval=3600)
    await relay.start()
    try:
        await asyncio.wait_for(asleep.wait(), 10)  # the relay found nothing and now sleeps for an hour
        await _write(sessions, range(3), relay=relay)
        await eventually(lambda: _sent(publisher, 3), within=5)
    finally:
        await relay.stop()
    assert publisher.numbers == [0, 1, 2]


async def test_an_idle_relay_sets_its_gauge_without_counting_rows(engine: AsyncEngine, sessions) -> None:
    """A batch that read fewer rows than it may and published them all leaves none pending: the gauge says 0
    without the count query an idle relay used to run every second."""
    from voltline_store.metrics import OUTBOX_PENDING

    await _write(sessions, range(5))
    statements: list[str] = []
    sa.event.listen(engine.sync_engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    OUTBOX_PENDING.labels("idle-gauge").set(5)
    relay = OutboxRelay(engine, RecordingPublisher(), batch_size=100, poll_interval=0.01, name="idle-gauge")
    await relay.start()
    try:
        # Rounds are positive signals: each one selects the unpublished rows.
        await eventually(lambda: sum("published_at IS NULL" in s and "count" not in s for s in statements) >= 20)
    finally:
        await relay.stop()
    assert OUTBOX_PENDING.labels("idle-gauge")._value.get() == 0
    assert not [s for s in statements if "count(" in s.lower()]


async def test_stop_finishes_the_batch_in_flight(engine: AsyncEngine, sessions) -> None:
    await _write(sessions, range(30))
    publisher = RecordingPublisher(delay=0.02)
    relay = OutboxRelay(engine, publisher, batch_size=10, poll_interval=3600)
    await relay.start()
    await eventually(lambda: _sent(publisher, 1), within=5)
    await relay.stop()
    assert publisher.numbers == list(range(10))
    assert await relay.pending() == 20  # the finished batch was marked; the rest waits for the next start


class TurnPublisher(RecordingPublisher):
    """Acks into a log shared with the other relay's; `hold_next` makes the next row wait until the test lets it go:
    its relay is then mid-batch, in the transaction that holds the relays' lock."""

    def __init__(self, log: list[int]) -> None:
        super().__init__()
        self.log = log
        self._held: tuple[asyncio.Event, asyncio.Event] | None = None

    def hold_next(self) -> tuple[asyncio.Event, asyncio.Event]:
        """(set when the row is held, set it to let the row go)."""
        self._held = (asyncio.Event(), asyncio.Event())
        return self._held

    async def publish(self, topic: str, envelope: Envelope, *, key: bytes | None = None) -> None:
        if self._held is not None:
            (holding, go), self._held = self._held, None
            holding.set()
            await go.wait()
        self.log.append(envelope.payload["n"])
        await super().publish(topic, envelope, key=key)


def _lock_tries(engine: AsyncEngine) -> list[int]:
    """How many times this engine's relay has asked for the relays' lock (and been answered), kept current."""
    tries = [0]

    def count(_conn: object, _cursor: object, statement: str, *_: object) -> None:
        if "pg_try_advisory_xact_lock" in statement:
            tries[0] += 1

    sa.event.listen(engine.sync_engine, "after_cursor_execute", count)
    return tries


async def _take_turns(
    relays: list[OutboxRelay], engines: list[AsyncEngine], publishers: list[TurnPublisher], turns: int
) -> None:
    """Hand the outbox from one relay to the other `turns` times, relay 0 first: while the active relay is
    mid-batch (holding the lock), the other starts, asks for the lock and is refused, publishing nothing; then the
    active one stops after that batch and the other must take over. One relay runs at the end (the last taker)."""
    tries = [_lock_tries(engine) for engine in engines]  # relay i runs on engine i
    held = publishers[0].hold_next()
    await relays[0].start()
    for turn in range(turns):
        active, other = relays[turn % 2], relays[1 - turn % 2]
        waiting, asked = publishers[1 - turn % 2], tries[1 - turn % 2]
        await asyncio.wait_for(held[0].wait(), 30)
        already, sent = asked[0], len(waiting.sent)
        await other.start()
        await eventually(lambda n=already, asked=asked: asked[0] > n, within=30, what="the standby asking for the lock")
        assert len(waiting.sent) == sent, "the standby relay published while the other held the lock"
        next_held = waiting.hold_next() if turn + 1 < turns else None
        stopping = asyncio.create_task(active.stop())
        # Once stop() has marked it stopping (no longer running), it ends after the batch in flight.
        await eventually(lambda relay=active: not relay.running, within=5, interval=0)
        held[1].set()
        await stopping
        if next_held is not None:
            held = next_held


async def test_two_relays_on_postgres_never_publish_a_row_twice(pg_url: str, migrations_dir) -> None:
    await run_migrations(pg_url, migrations_dir)
    engines = [create_engine(pg_url) for _ in range(2)]
    sessions = session_factory(engines[0])
    log: list[int] = []
    publishers = [TurnPublisher(log), TurnPublisher(log)]
    relays = [
        OutboxRelay(e, p, batch_size=25, poll_interval=0.01, name=f"r{i}")
        for i, (e, p) in enumerate(zip(engines, publishers, strict=True))
    ]
    try:
        # Writers keep committing while the relays drain, waking both, as two service replicas would; meanwhile
        # the outbox passes from one relay to the other and back.
        await asyncio.gather(
            _take_turns(relays, engines, publishers, turns=2),
            *(_write(sessions, range(k, 400, 4), relay=relays[k % 2], per_tx=5) for k in range(4)),
        )
        for relay in relays:
            await relay.start()
        await eventually(lambda: _pending_is_zero(relays[0]))
    finally:
        for relay in relays:
            await relay.stop()
        for e in engines:
            await e.dispose()
    both = publishers[0].numbers + publishers[1].numbers
    assert sorted(both) == list(range(400))  # every row exactly once
    assert publishers[0].sent and publishers[1].sent


async def test_one_relay_at_a_time_keeps_global_order_on_postgres(pg_url: str, migrations_dir) -> None:
    """Two relays take turns, each holding the lock for a whole batch, so merged by ack time the stream is still
    in outbox order, across every hand-over."""
    await run_migrations(pg_url, migrations_dir)
    engines = [create_engine(pg_url) for _ in range(2)]
    merged: list[int] = []
    publishers = [TurnPublisher(merged), TurnPublisher(merged)]
    relays = [
        OutboxRelay(e, p, batch_size=20, poll_interval=0.01, name=f"o{i}")
        for i, (e, p) in enumerate(zip(engines, publishers, strict=True))
    ]
    await _write(session_factory(engines[0]), range(300))
    try:
        await _take_turns(relays, engines, publishers, turns=4)
        await eventually(lambda: _pending_is_zero(relays[0]))
    finally:
        for relay in relays:
            await relay.stop()
        for e in engines:
            await e.dispose()
    assert merged == list(range(300))
    # A batch each turn, then relay 0 (the last taker) drains the rest.
    assert publishers[0].numbers == [*range(0, 20), *range(40, 60), *range(80, 300)]
    assert publishers[1].numbers == [*range(20, 40), *range(60, 80)]


async def test_purge_published(engine: AsyncEngine, sessions) -> None:
    await _write(sessions, range(10))
    relay = OutboxRelay(engine, RecordingPublisher(), batch_size=6)
    await relay.run_once()  # 6 published, 4 pending
    assert await relay.purge_published(timedelta(hours=1)) == 0  # too recent
    async with engine.begin() as conn:
        await conn.execute(
            sa.update(outbox_table)
            .values(published_at=datetime.now(UTC) - timedelta(days=2))
            .where(outbox_table.c.published_at.is_not(None))
        )
    assert await relay.purge_published(timedelta(days=1)) == 6
    assert await relay.pending() == 4
    assert await relay.run_once() == 4


async def test_stop_when_never_started_is_harmless(engine: AsyncEngine) -> None:
    relay = OutboxRelay(engine, RecordingPublisher())
    await relay.stop()
    assert not relay.running
