"""`EventConsumer(solo=...)`: events picked by their content are handled alone, outside the batch
transactions, in partition order; the events around them still go in batches (real Kafka, each database)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from voltline_bus import BusConfig, EventConsumer, Producer, TopicSpec, ensure_topics
from voltline_devinfra.waiting import eventually
from voltline_events import Envelope, envelope_for, station_key
from voltline_events.payloads import StationMessage
from voltline_store import TransactionBatch, current_batch


class CountingBatch(TransactionBatch):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.opened = 0

    def __call__(self, envelopes: Sequence[Envelope]) -> Any:
        self.opened += 1
        return super().__call__(envelopes)


def _message(action: str) -> Envelope:
    event = StationMessage(ocpp_version="ocpp1.6", action=action, payload={})
    return envelope_for(event, source="test/1", station_id="CP-SOLO")


async def test_events_picked_by_solo_are_handled_alone_between_batches(
    sessions: async_sessionmaker[AsyncSession], kafka: Any, topic_prefix: str
) -> None:
    config = BusConfig(bootstrap=kafka.bootstrap_servers, client_id=f"{topic_prefix}solo", idempotence=False)
    topic = f"{topic_prefix}station.events"
    await ensure_topics(config, [TopicSpec(topic, partitions=1)])
    producer = Producer(config)
    await producer.start()
    actions = ["DataTransfer", "DataTransfer", "LogStatusNotification", "DataTransfer", "DataTransfer"]
    await producer.publish_many([(topic, e, station_key("CP-SOLO")) for e in map(_message, actions)])
    seen: list[tuple[str, bool]] = []

    async def handle(envelope: Envelope) -> None:
        seen.append((envelope.payload["action"], current_batch() is not None))

    scope = CountingBatch(sessions)
    consumer = EventConsumer(
        config,
        group_id=f"{topic_prefix}solo-group",
        topics=[topic],
        handler=handle,
        dead_letter=producer,
        consumer_options={"session_timeout_ms": 6000, "heartbeat_interval_ms": 300},
        batch_scope=scope,
        max_poll_records=500,
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
