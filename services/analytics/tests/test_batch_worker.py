"""The batch worker (ADR 0017): a fetch is one applied batch; what is not an envelope or fails to apply is
parked on `<topic>.dlq` and the rest applied; offsets are committed, so a restart applies nothing again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaConsumer
from voltline_analytics.adapters.batch_worker import BatchWorker
from voltline_bus import BusConfig, Producer, TopicSpec, ensure_topics
from voltline_devinfra.waiting import eventually
from voltline_events import Envelope, Topics


def _envelope(kind: str) -> Envelope:
    return Envelope(type=kind, schema_version=1, source="test", station_id="CP-1", payload={})


async def test_bad_events_are_parked_and_the_rest_applied_once(kafka: Any, topic_prefix: str) -> None:
    bus = BusConfig(kafka.bootstrap_servers, "analytics-test", session_timeout_ms=6000)
    topic = f"{topic_prefix}sessions"
    await ensure_topics(bus, [TopicSpec(topic, partitions=2), TopicSpec(Topics.dead_letter(topic))])
    applied: list[str] = []

    async def apply(batch: Sequence[Envelope]) -> None:
        if any(e.type == "test.boom" for e in batch):
            raise RuntimeError("boom")
        applied.extend(e.type for e in batch)

    async with Producer(bus) as producer:
        for kind in ("test.one", "test.boom", "test.two"):
            await producer.publish_raw(topic, _envelope(kind).to_bytes(), key=b"CP-1")
        await producer.publish_raw(topic, b"not json", key=b"CP-1")

        def worker() -> BatchWorker:
            return BatchWorker(bus, group_id=f"{topic_prefix}analytics", topics=[topic], apply_batch=apply,
                               dead_letter=producer, attempts=1, poll_ms=100)  # fmt: skip

        first = worker()
        await first.start()
        try:
            await eventually(lambda: sorted(applied) == ["test.one", "test.two"], within=60)
        finally:
            await first.stop()
        parked = await _parked(kafka, topic, at_least=2)
        reasons = sorted(dict(r.headers)["dlq.reason"].decode()[:14] for r in parked)
        assert reasons == ["failed to appl", "not an envelop"]

        async with Producer(bus) as more:
            await more.publish_raw(topic, _envelope("test.three").to_bytes(), key=b"CP-1")
        second = worker()
        await second.start()
        try:
            await eventually(lambda: "test.three" in applied, within=60)
        finally:
            await second.stop()
        assert sorted(applied) == ["test.one", "test.three", "test.two"]  # nothing committed came again


async def test_types_it_does_not_read_are_skipped_by_their_header_without_being_decoded(
    kafka: Any, topic_prefix: str
) -> None:
    bus = BusConfig(kafka.bootstrap_servers, "analytics-test", session_timeout_ms=6000)
    topic = f"{topic_prefix}station-events"
    await ensure_topics(bus, [TopicSpec(topic, partitions=1), TopicSpec(Topics.dead_letter(topic))])
    applied: list[str] = []

    async def apply(batch: Sequence[Envelope]) -> None:
        applied.extend(e.type for e in batch)

    async with Producer(bus) as producer:
        # Bytes that are no envelope, under a type analytics does not read: never decoded, so never parked.
        await producer.publish_raw(topic, b"meter reading", key=b"CP-1", headers=[("event_type", b"station.meter")])
        await producer.publish_raw(topic, _envelope("test.one").to_bytes(), key=b"CP-1")
        await producer.publish_raw(topic, b"no header", key=b"CP-1")  # no type said: decoded, parked
        worker = BatchWorker(bus, group_id=f"{topic_prefix}analytics", topics=[topic], apply_batch=apply,
                             dead_letter=producer, attempts=1, poll_ms=100, event_types={"test.one"})  # fmt: skip
        await worker.start()
        try:
            await eventually(lambda: applied == ["test.one"], within=60)
        finally:
            await worker.stop()
        parked = await _parked(kafka, topic, at_least=1)
        assert [r.value for r in parked] == [b"no header"]


async def _parked(kafka: Any, topic: str, *, at_least: int) -> list[Any]:
    """The records dead-lettered from `topic`, once there are `at_least` of them."""
    parked = AIOKafkaConsumer(Topics.dead_letter(topic), bootstrap_servers=kafka.bootstrap_servers,
                              auto_offset_reset="earliest", enable_auto_commit=False)  # fmt: skip
    await parked.start()
    try:
        records = await eventually(
            lambda: parked.getmany(timeout_ms=500), ok=lambda r: sum(map(len, r.values())) >= at_least
        )
        return [r for rs in records.values() for r in rs]
    finally:
        await parked.stop()
