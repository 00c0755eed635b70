"""Batch consumption over real Kafka and each real database: one transaction per fetched batch, inbox
markers in bulk, per-station order, a poison event isolated without replaying the batch forever, events picked
by `solo` handled alone between batches."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pytest_asyncio
import sqlalchemy as sa
import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voltline_bus import BusConfig, Dispatcher, EventConsumer, Producer, TopicSpec, ensure_topics, merge_event_context
from voltline_devinfra.waiting import eventually
from voltline_events import Envelope, Topics, envelope_for, station_key
from voltline_events.payloads import Heartbeat, StationConnected, StationMessage
from voltline_store import TransactionBatch, UnitOfWork, current_batch

CONSUMER = "batch-test"
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 300}


class CountingBatch(TransactionBatch):
    """Counts the transactions the consumer opened."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened = 0

    def __call__(self, envelopes: Sequence[Envelope]) -> Any:
        self.opened += 1
        return super().__call__(envelopes)


def _beat(station: str) -> Envelope:
    return envelope_for(Heartbeat(ocpp_version="ocpp1.6"), source="test/1", station_id=station)


async def _setup(kafka: Any, prefix: str, partitions: int = 1) -> tuple[BusConfig, Producer, str]:
    config = BusConfig(bootstrap=kafka.bootstrap_servers, client_id=f"{prefix}batch", idempotence=False)
    topic = f"{prefix}station.events"
    await ensure_topics(config, [TopicSpec(topic, partitions=partitions)])
    producer = Producer(config)
    await producer.start()
    return config, producer, topic


def _consumer(
    config: BusConfig, producer: Producer, topic: str, prefix: str, handler: Any, scope: Any, **kw: Any
) -> EventConsumer:
    return EventConsumer(
        config,
        group_id=f"{prefix}batch-group",
        topics=[topic],
        handler=handler,
        dead_letter=producer,
        consumer_options=FAST_GROUP,
        batch_scope=scope,
        max_attempts=2,
        backoff_initial=0.05,
        max_poll_records=500,
        **kw,
    )


async def _count(sessions: async_sessionmaker[AsyncSession], table: sa.Table, **where: Any) -> int:
    async with sessions() as s:
        query = sa.select(sa.func.count()).select_from(table)
        for column, value in where.items():
            query = query.where(table.c[column] == value)
        return int((await s.execute(query)).scalar_one())


Consuming = Callable[..., contextlib.AbstractAsyncContextManager[EventConsumer]]


@pytest_asyncio.fixture
async def consuming(
    sessions: async_sessionmaker[AsyncSession], schema: Any, kafka: Any, topic_prefix: str
) -> AsyncIterator[Consuming]:
    """`async with consuming(envelopes, scope, **consumer_options) as consumer`: the envelopes are published, then
    consumed by a batch consumer whose handler writes one effect per heartbeat, once (inbox); `skip_others=True`
    routes through a Dispatcher that knows heartbeats only (other types are skipped by their header)."""
    config, producer, topic = await _setup(kafka, topic_prefix)

    async def handle(envelope: Envelope) -> None:
        async with UnitOfWork(sessions) as uow:
            if await uow.inbox.first_time(CONSUMER, envelope.event_id):
                await uow.session.execute(schema.effects.insert().values(event_id=envelope.event_id, seq=1))
            await uow.commit()

    @contextlib.asynccontextmanager
    async def run(
        envelopes: list[Envelope], scope: Any, *, skip_others: bool = False, **options: Any
    ) -> AsyncIterator[EventConsumer]:
        await producer.publish_many([(topic, e, station_key(e.station_id or "")) for e in envelopes])
        handler = Dispatcher({"station.heartbeat": handle}) if skip_others else handle
        consumer = _consumer(config, producer, topic, topic_prefix, handler, scope, **options)
        await consumer.start()
        try:
            yield consumer
        finally:
            await consumer.stop()

    try:
        yield run
    finally:
        await producer.stop()


async def test_a_fetched_batch_is_one_transaction_in_order_with_bulk_inbox(
    sessions: async_sessionmaker[AsyncSession], schema: Any, kafka: Any, topic_prefix: str
) -> None:
    effects = schema.effects
    config, producer, topic = await _setup(kafka, topic_prefix)
    n = 300
    sent = [_beat("CP-1") for _ in range(n)]
    seq = {e.event_id: i for i, e in enumerate(sent)}
    await producer.publish_many([(topic, e, station_key("CP-1")) for e in sent])
    await producer.publish(topic, sent[7], key=station_key("CP-1"))  # a redelivery: the inbox absorbs it
    joined: list[bool] = []
    logged: list[bool] = []  # each handler's log lines name its own event

    async def handle(envelope: Envelope) -> None:
        bound = merge_event_context(None, "info", structlog.contextvars.get_contextvars())  # what a line gets
        logged.append(bound.get("event_id") == str(envelope.event_id) and bound.get("station_id") == "CP-1")
        async with UnitOfWork(sessions) as uow:
            joined.append(uow.batch is not None)
            if await uow.inbox.first_time(CONSUMER, envelope.event_id):
                await uow.session.execute(
                    effects.insert().values(event_id=envelope.event_id, seq=seq[envelope.event_id])
                )
            await uow.commit()

    scope = CountingBatch(sessions, inbox_consumer=CONSUMER)
    # A budget no loaded machine reaches: what is counted is fetches, not how fast this machine is.
    consumer = _consumer(config, producer, topic, topic_prefix, handle, scope, batch_max_s=30.0)
    await consumer.start()
    try:
        await eventually(lambda: _done(sessions, effects, n), what="every effect")
        await eventually(lambda: _lag_zero(consumer), what="lag back to zero")
    finally:
        await consumer.stop()
        await producer.stop()
    async with sessions() as s:
        order = list((await s.execute(sa.select(effects.c.seq).order_by(effects.c.id))).scalars())
    assert order == list(range(n)), "one station's effects are applied in order, each once"
    assert all(joined)
    assert logged and all(logged)
    assert "event_id" not in merge_event_context(None, "info", structlog.contextvars.get_contextvars())
    assert scope.opened < n / 10, f"{scope.opened} transactions for {n} events"
    assert await _count(sessions, schema.metadata.tables["inbox"], consumer=CONSUMER) == n


async def test_events_skipped_by_type_do_not_split_a_batch(
    sessions: async_sessionmaker[AsyncSession], schema: Any, consuming: Consuming
) -> None:
    """A stream mixing handled and unhandled types (StatusNotifications between heartbeats) keeps its batches:
    a skipped record inside or after a run is passed over, not a reason to commit the run."""
    effects = schema.effects
    n = 200
    sent = [_beat("CP-3") for _ in range(n)]
    other = StationConnected(ocpp_version="ocpp1.6", gateway_instance="g")
    mixed = [e for beat in sent for e in (beat, envelope_for(other, source="test/1", station_id="CP-3"))]
    scope = CountingBatch(sessions, inbox_consumer=CONSUMER)
    # station.connected is skipped by its header
    async with consuming(mixed, scope, skip_others=True, batch_max_s=30.0) as consumer:
        await eventually(lambda: _done(sessions, effects, n), what="every heartbeat's effect")
        await eventually(lambda: _lag_zero(consumer), what="lag back to zero, the last skipped record included")
    assert await _count(sessions, effects) == n
    assert scope.opened < n / 10, f"{scope.opened} transactions for {n} handled events"


async def test_a_batch_cut_short_by_its_time_budget_leaves_no_marker_for_the_rest(
    sessions: async_sessionmaker[AsyncSession], schema: Any, consuming: Consuming
) -> None:
    n = 40
    scope = CountingBatch(sessions, inbox_consumer=CONSUMER)
    async with consuming([_beat("CP-2") for _ in range(n)], scope, batch_max_s=0.0) as consumer:
        await eventually(lambda: _lag_zero(consumer), what="lag back to zero")
    assert await _count(sessions, schema.effects) == n, "every event handled although each batch stopped after one"
    assert scope.opened >= n


class SlowToOpen(CountingBatch):
    """A transaction that takes longer to open than the batch budget (a starved process waiting for SQLite's
    write lock): the budget counts from the open transaction, so batches do not shrink to one event."""

    def __call__(self, envelopes: Sequence[Envelope]) -> Any:
        inner = super().__call__(envelopes)

        @contextlib.asynccontextmanager
        async def slow() -> AsyncIterator[Any]:
            await asyncio.sleep(0.3)  # stands for the wait, not for a signal
            async with inner as batch:
                yield batch

        return slow()


async def test_the_time_budget_counts_from_the_open_transaction(
    sessions: async_sessionmaker[AsyncSession], schema: Any, consuming: Consuming
) -> None:
    n = 120
    scope = SlowToOpen(sessions, inbox_consumer=CONSUMER)
    async with consuming([_beat("CP-3") for _ in range(n)], scope, batch_max_s=0.2):
        await eventually(lambda: _done(sessions, schema.effects, n), what="every effect")
    assert scope.opened < n / 4, f"{scope.opened} transactions for {n} events"


async def _done(sessions: async_sessionmaker[AsyncSession], table: sa.Table, n: int) -> bool:
    return await _count(sessions, table) >= n


async def _lag_zero(consumer: EventConsumer) -> bool:
    lag = await consumer.lag()
    return bool(lag) and set(lag.values()) == {0}


async def test_a_poison_event_is_isolated_and_dead_lettered_while_the_rest_commits_once(
    sessions: async_sessionmaker[AsyncSession], schema: Any, kafka: Any, topic_prefix: str
) -> None:
    effects = schema.effects
    config, producer, topic = await _setup(kafka, topic_prefix)
    n = 60
    sent = [_beat("CP-1") for _ in range(n)]
    poison, swallowed = sent[20].event_id, sent[40].event_id
    attempts: dict[Any, int] = {}

    async def handle(envelope: Envelope) -> None:
        attempts[envelope.event_id] = attempts.get(envelope.event_id, 0) + 1
        if envelope.event_id == swallowed and attempts[envelope.event_id] == 1:
            # A handler that catches its own failure: its unit of work failed, so the batch must not commit.
            try:
                async with UnitOfWork(sessions) as uow:
                    await uow.session.execute(effects.insert().values(event_id=envelope.event_id, seq=-1))
                    raise RuntimeError("caught by the handler")
            except RuntimeError:
                return
        async with UnitOfWork(sessions) as uow:
            if await uow.inbox.first_time(CONSUMER, envelope.event_id):
                await uow.session.execute(effects.insert().values(event_id=envelope.event_id, seq=1))
            if envelope.event_id == poison:
                raise ValueError("poison")
            await uow.commit()

    consumer = _consumer(
        config, producer, topic, topic_prefix, handle, TransactionBatch(sessions, inbox_consumer=CONSUMER)
    )
    await producer.publish_many([(topic, e, station_key("CP-1")) for e in sent])
    await consumer.start()
    dlq = Topics.dead_letter(topic)
    try:
        await eventually(lambda: _done(sessions, effects, n - 1), what="every good event's effect")
        await eventually(lambda: _lag_zero(consumer), what="lag back to zero")
    finally:
        await consumer.stop()
    reader_records = await _read_all(config, dlq)
    await producer.stop()
    assert [Envelope.from_bytes(r.value).event_id for r in reader_records] == [poison]
    assert await _count(sessions, effects, seq=1) == n - 1, "each good event applied exactly once"
    assert await _count(sessions, effects, seq=-1) == 0, "the swallowed failure's writes were rolled back"
    assert await _count(sessions, effects, event_id=poison) == 0
    assert attempts[poison] == 1 + 2, "once in the batch, then alone up to max_attempts"
    assert max(v for k, v in attempts.items() if k not in (poison, swallowed)) <= 2


async def _read_all(config: BusConfig, topic: str) -> list[Any]:
    from aiokafka import AIOKafkaConsumer, TopicPartition

    reader = AIOKafkaConsumer(bootstrap_servers=config.bootstrap, enable_auto_commit=False)
    await reader.start()
    try:
        tp = TopicPartition(topic, 0)
        reader.assign([tp])
        await reader.seek_to_beginning(tp)
        out: list[Any] = []
        deadline = time.monotonic() + 10
        while not out and time.monotonic() < deadline:
            for records in (await reader.getmany(timeout_ms=300)).values():
                out.extend(records)
        return out
    finally:
        await reader.stop()


async def test_writes_coalesced_with_before_commit_happen_once_per_batch(
    sessions: async_sessionmaker[AsyncSession], schema: Any
) -> None:
    stations = schema.stations
    scope = TransactionBatch(sessions)
    writes = 0
    events = [_beat("CP-9") for _ in range(25)]

    async def flush() -> None:
        nonlocal writes
        writes += 1
        batch = current_batch()
        assert batch is not None
        now = datetime.now(UTC)
        await batch.session.execute(stations.insert().values(id="CP-9", status=str(batch.memo["seen"]), updated_at=now))

    async with scope(events) as batch:
        for _ in events:
            async with UnitOfWork(sessions) as uow:
                assert uow.batch is batch
                batch.memo["seen"] = batch.memo.get("seen", 0) + 1
                batch.before_commit("CP-9", flush)
                await uow.commit()
    assert writes == 1
    assert current_batch() is None
    async with sessions() as s:
        assert (await s.execute(sa.select(stations.c.status))).scalar_one() == "25"


async def test_after_commit_callbacks_run_once_the_batch_committed_never_after_a_rollback(
    sessions: async_sessionmaker[AsyncSession], schema: Any
) -> None:
    """In-memory state that must reflect only what is durable (billing's "cost announced" cache) is updated
    once the batch commits: a batch that rolls back (and is handled again) leaves it as it was."""
    ran: list[str] = []
    scope = TransactionBatch(sessions)
    async with scope([_beat("CP-9")]) as batch:
        batch.after_commit("k", lambda: ran.append("replaced"))
        batch.after_commit("k", lambda: ran.append("committed"))
        assert ran == []
    assert ran == ["committed"]
    with contextlib.suppress(RuntimeError):
        async with scope([_beat("CP-9")]) as batch:
            batch.after_commit("k", lambda: ran.append("rolled back"))
            raise RuntimeError("a handler failed")
    assert ran == ["committed"]


# `EventConsumer(solo=...)`: events picked by their content are handled alone, outside the batch transactions, in
# partition order; the events around them still go in batches.
def _station_message(action: str) -> Envelope:
    event = StationMessage(ocpp_version="ocpp1.6", action=action, payload={})
    return envelope_for(event, source="test/1", station_id="CP-SOLO")


async def test_events_picked_by_solo_are_handled_alone_between_batches(
    sessions: async_sessionmaker[AsyncSession], kafka: Any, topic_prefix: str
) -> None:
    config, producer, topic = await _setup(kafka, topic_prefix)
    actions = ["DataTransfer", "DataTransfer", "LogStatusNotification", "DataTransfer", "DataTransfer"]
    await producer.publish_many([(topic, e, station_key("CP-SOLO")) for e in map(_station_message, actions)])
    seen: list[tuple[str, bool]] = []

    async def handle(envelope: Envelope) -> None:
        seen.append((envelope.payload["action"], current_batch() is not None))

    scope = CountingBatch(sessions)
    consumer = _consumer(
        config,
        producer,
        topic,
        topic_prefix,
        handle,
        scope,
        solo=lambda envelope: envelope.payload.get("action") == "LogStatusNotification",
    )
    await consumer.start()
    try:
        await eventually(lambda: len(seen) == len(actions), what="every event handled")
    finally:
        await consumer.stop()
        await producer.stop()
    # One fetch: a batch before the solo event, the solo event alone (no batch open), a batch after it.
    assert seen == [(action, action != "LogStatusNotification") for action in actions]
    assert scope.opened == 2
