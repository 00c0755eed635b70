"""End to end on real infrastructure: PostgreSQL outbox -> relay -> Kafka -> consumer with the inbox.

The broker goes away part-way and rows are re-sent as after a relay crash between publish and mark;
the consumer must still end up with exactly one effect per state change, in each station's order.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY
from sqlalchemy.dialects import postgresql
from voltline_bus import BusConfig, EventConsumer, Producer, TopicSpec, ensure_topics
from voltline_devinfra.waiting import eventually
from voltline_events import Envelope, station_key
from voltline_store import OutboxRelay, UnitOfWork, create_engine, outbox_table, run_migrations, session_factory


@pytest.fixture(scope="module")
def kafka(private_kafka: Any) -> Any:
    """This module pauses the broker: one no other xdist worker shares (voltline_devinfra.pytest_plugin)."""
    return private_kafka


N = 60
STATIONS = [f"CP-{i}" for i in range(5)]
CONSUMER = "effects-projector"
FAST_GROUP = {"session_timeout_ms": 6000, "heartbeat_interval_ms": 300}


async def test_exactly_n_effects_through_broker_outage_and_resends(
    pg_url: str, kafka: Any, topic_prefix: str, migrations_dir: Path, schema: Any
) -> None:
    stations, effects = schema.stations, schema.effects
    topic = f"{topic_prefix}station.status"
    # A short request timeout so that publishing fails within seconds while the broker is down.
    config = BusConfig(
        bootstrap=kafka.bootstrap_servers, client_id=f"{topic_prefix}store", idempotence=True, request_timeout_ms=3000
    )
    await ensure_topics(config, [TopicSpec(topic, partitions=3)])
    await run_migrations(pg_url, migrations_dir)
    engine = create_engine(pg_url)
    sessions = session_factory(engine)
    producer = Producer(config)
    await producer.start()
    # The idempotent producer never gives up while the broker is down; publish_timeout makes the relay do so.
    relay = OutboxRelay(
        engine, producer, batch_size=8, poll_interval=0.2, backoff_max=1.0, publish_timeout=2.0, name=topic_prefix
    )

    deliveries = 0

    async def project(envelope: Envelope) -> None:
        """The consumer's handler: its effect and its inbox marker commit together."""
        nonlocal deliveries
        deliveries += 1
        async with UnitOfWork(sessions) as uow:
            if await uow.inbox.first_time(CONSUMER, envelope.event_id):
                await uow.session.execute(
                    sa.insert(effects).values(
                        event_id=envelope.event_id, station_id=envelope.station_id, seq=envelope.payload["seq"]
                    )
                )
            await uow.commit()

    consumer = EventConsumer(
        config,
        group_id=f"{topic_prefix}effects",
        topics=[topic],
        handler=project,
        dead_letter=producer,
        consumer_options=FAST_GROUP,
    )

    async def change_state(seq: int) -> None:
        """One state change and the event it causes, in one transaction."""
        station = STATIONS[seq % len(STATIONS)]
        async with UnitOfWork(sessions, relay=relay) as uow:
            upsert = postgresql.insert(stations).values(id=station, status=f"s{seq}", updated_at=datetime.now(UTC))
            await uow.session.execute(
                upsert.on_conflict_do_update(index_elements=["id"], set_={"status": upsert.excluded.status})
            )
            envelope = Envelope(
                type="test.station_status", schema_version=1, source="it", station_id=station, payload={"seq": seq}
            )
            uow.outbox.add(topic, envelope, key=station_key(station))
            await uow.commit()

    async def count(table: sa.Table, *where: Any) -> int:
        async with engine.connect() as conn:
            return (await conn.execute(sa.select(sa.func.count()).select_from(table).where(*where))).scalar_one()

    async def nothing_pending() -> bool:
        return await relay.pending() == 0

    errors_before = _relay_errors(topic_prefix)

    async def failed_for_a_while() -> bool:
        return _relay_errors(topic_prefix) - errors_before >= 2

    try:
        await consumer.start()
        await relay.start()

        for seq in range(N // 3):
            await change_state(seq)
        await eventually(nothing_pending, 30, what="the first third to be published")

        # The broker goes away while the service keeps changing state: commits still succeed,
        # the events wait in the outbox and the relay fails and backs off.
        await asyncio.to_thread(kafka.pause)
        try:
            for seq in range(N // 3, 2 * N // 3):
                await change_state(seq)
            await eventually(failed_for_a_while, 60, what="the relay to fail for a while")
            assert await relay.pending() > 0
        finally:
            await asyncio.to_thread(kafka.resume)
        for seq in range(2 * N // 3, N):
            await change_state(seq)
        await eventually(nothing_pending, 120, what="the backlog to drain after the broker came back")

        # A relay crash between publish and mark: Kafka has the rows, the database says unpublished.
        async with engine.begin() as conn:
            await conn.execute(sa.update(outbox_table).where(outbox_table.c.id <= N // 2).values(published_at=None))
        relay.wake()
        await eventually(nothing_pending, 60, what="the re-sent rows to be published again")

        async def all_delivered() -> bool:
            return deliveries >= N + N // 2 and await count(effects) >= N

        await eventually(all_delivered, 120, what="the consumer to see every event and every re-send")
        await asyncio.sleep(1.0)  # let any straggling redelivery land before counting
    finally:
        await relay.stop()
        await consumer.stop()
        await producer.stop()

    async with engine.connect() as conn:
        rows = (await conn.execute(sa.select(effects.c.station_id, effects.c.seq).order_by(effects.c.id))).all()
    await engine.dispose()

    assert deliveries >= N + N // 2  # duplicates really reached the consumer...
    assert sorted(r.seq for r in rows) == list(range(N))  # ...yet exactly N effects: none lost, none doubled
    by_station: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        by_station[r.station_id].append(r.seq)
    assert all(seqs == sorted(seqs) for seqs in by_station.values()), by_station  # each station in order


def _relay_errors(name: str) -> float:
    return REGISTRY.get_sample_value("voltline_outbox_relay_errors_total", {"relay": name}) or 0.0
