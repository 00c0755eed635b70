"""Producer and EventConsumer semantics against a real Kafka broker."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from typing import Any

import pytest
import structlog
from voltline_bus import Dispatcher, EventConsumer, Outgoing, PublishError, merge_event_context
from voltline_bus import headers as h
from voltline_events import Envelope, Topics, station_key


async def test_publish_and_consume_round_trip_with_headers(kit: Any) -> None:
    [topic] = await kit.topics("events")
    sent = kit.heartbeat("CS-1", correlation_id="corr-1")
    await kit.producer.publish(topic, sent, key=station_key("CS-1"))

    [record] = await kit.read(topic, 1)
    assert record.key == b"CS-1"
    assert Envelope.from_bytes(record.value) == sent
    assert h.as_dict(record.headers) == {
        "event_type": b"station.heartbeat",
        "schema_version": b"1",
        "event_id": str(sent.event_id).encode(),
    }

    received: list[Envelope] = []
    log_context: list[dict[str, Any]] = []

    async def handle(envelope: Envelope) -> None:
        received.append(envelope)
        # What the service's log chain adds to each line (structlog's context variables, then the event's ids).
        log_context.append(dict(merge_event_context(None, "info", structlog.contextvars.get_contextvars())))

    await kit.consumer([topic], handle)
    await kit.eventually(lambda: received, what="delivery")
    assert received == [sent]
    assert await _committed(kit, "g", topic, 1) == 1
    # The handler's own log lines carry the station and correlation of the event it handles.
    assert log_context[0]["station_id"] == "CS-1"
    assert log_context[0]["correlation_id"] == "corr-1"
    assert log_context[0]["event_id"] == str(sent.event_id)


async def test_publish_many_awaits_all_acks_and_keeps_key_order(kit: Any) -> None:
    [topic] = await kit.topics("many", partitions=3)
    batch = [Outgoing(topic, kit.heartbeat(f"CS-{i % 3}"), station_key(f"CS-{i % 3}")) for i in range(30)]
    await kit.producer.publish_many(batch)

    records = await kit.read(topic, 30)
    assert len(records) == 30
    by_key: dict[bytes, list[str]] = defaultdict(list)
    for record in sorted(records, key=lambda r: (r.partition, r.offset)):
        by_key[record.key].append(h.as_dict(record.headers)["event_id"].decode())
    for key in (b"CS-0", b"CS-1", b"CS-2"):
        assert by_key[key] == [str(o.envelope.event_id) for o in batch if o.key == key]


async def test_publish_many_stored_sends_the_bytes_as_they_are_with_the_envelopes_headers(kit: Any) -> None:
    """The outbox relay's path: stored envelopes go out unchanged (not validated and encoded again), with the
    same headers `publish_many` would give them."""
    [topic] = await kit.topics("stored", partitions=1)
    envelopes = [kit.heartbeat("CS-1", correlation_id=f"c-{i}") for i in range(5)]
    envelopes[2] = envelopes[2].model_copy(update={"traceparent": "00-" + "1" * 32 + "-" + "2" * 16 + "-01"})
    await kit.producer.publish_many_stored([(topic, e.to_bytes(), b"CS-1") for e in envelopes])

    records = sorted(await kit.read(topic, 5), key=lambda r: r.offset)
    assert [r.value for r in records] == [e.to_bytes() for e in envelopes]
    assert [list(r.headers) for r in records] == [h.envelope_headers(e) for e in envelopes]
    assert {r.key for r in records} == {b"CS-1"}


async def test_commit_happens_only_after_the_handler_succeeded(kit: Any) -> None:
    [topic] = await kit.topics("retry")
    sent = kit.heartbeat("CS-1")
    await kit.producer.publish(topic, sent, key=b"CS-1")
    deliveries: list[Envelope] = []
    committed_during_retry: list[int | None] = []

    async def flaky(envelope: Envelope) -> None:
        deliveries.append(envelope)
        if len(deliveries) == 1:
            raise RuntimeError("database is down")
        committed_during_retry.append(await kit.committed("g", topic))

    await kit.consumer([topic], flaky, backoff_initial=0.05)
    await kit.eventually(lambda: committed_during_retry, what="retry")
    assert [d.event_id for d in deliveries] == [sent.event_id, sent.event_id]
    assert committed_during_retry == [None]  # the failure committed nothing
    assert await _committed(kit, "g", topic, 1) == 1
    # Barrier: a marker behind it on the same partition; a third delivery would come before the marker.
    marker = kit.heartbeat("CS-1")
    await kit.producer.publish(topic, marker, key=b"CS-1")
    await kit.eventually(lambda: deliveries[-1].event_id == marker.event_id, what="the marker")
    assert [d.event_id for d in deliveries] == [sent.event_id, sent.event_id, marker.event_id]


async def test_crash_before_commit_means_redelivery_to_the_group(kit: Any) -> None:
    [topic] = await kit.topics("crash")
    sent = kit.heartbeat("CS-1")
    await kit.producer.publish(topic, sent, key=b"CS-1")
    first: list[Envelope] = []
    never = asyncio.Event()

    async def hang(envelope: Envelope) -> None:
        first.append(envelope)
        await never.wait()  # "crashes" while handling: nothing gets committed

    crashed = await kit.consumer([topic], hang)
    await kit.eventually(lambda: first, what="first delivery")
    await crashed.stop(grace=0)  # the handler is cancelled mid-flight
    assert await kit.committed("g", topic) is None

    second: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        second.append(envelope)

    await kit.consumer([topic], handle)
    await kit.eventually(lambda: second, what="redelivery")
    assert second[0].event_id == sent.event_id
    assert await _committed(kit, "g", topic, 1) == 1


async def test_poison_message_is_dead_lettered_and_the_consumer_moves_on(kit: Any) -> None:
    [topic] = await kit.topics("poison")
    poison = kit.heartbeat("CS-bad")
    good = kit.heartbeat("CS-good")
    await kit.producer.publish(topic, poison, key=b"CS-1")
    await kit.producer.publish(topic, good, key=b"CS-1")
    attempts: list[str | None] = []
    handled: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        attempts.append(envelope.station_id)
        if envelope.station_id == "CS-bad":
            raise ValueError("cannot handle CS-bad")
        handled.append(envelope)

    await kit.consumer([topic], handle, max_attempts=3, backoff_initial=0.01)
    await kit.eventually(lambda: handled, what="the next message")
    assert attempts == ["CS-bad"] * 3 + ["CS-good"]
    assert handled == [good]

    [dead] = await kit.read(Topics.dead_letter(topic), 1)
    assert Envelope.from_bytes(dead.value) == poison
    assert dead.key == b"CS-1"
    headers = h.as_dict(dead.headers)
    assert headers[h.DLQ_ERROR] == b"ValueError: cannot handle CS-bad"
    assert headers[h.DLQ_ERROR_TYPE] == b"ValueError"
    assert headers[h.DLQ_ORIGINAL_TOPIC] == topic.encode()
    assert headers[h.DLQ_ORIGINAL_PARTITION] == b"0"
    assert headers[h.DLQ_ORIGINAL_OFFSET] == b"0"
    assert headers[h.DLQ_ATTEMPTS] == b"3"
    assert headers[h.DLQ_GROUP] == kit.topic("g").encode()
    assert headers[h.EVENT_ID] == str(poison.event_id).encode()  # original headers are kept
    assert await _committed(kit, "g", topic, 2) == 2


async def test_failure_counters_exist_at_zero_once_the_consumer_starts(kit: Any) -> None:
    """Prometheus' increase() misses a counter's first step from absent to 1: the first dead letter must count."""
    from prometheus_client import REGISTRY

    [topic] = await kit.topics("quiet")

    async def handle(envelope: Envelope) -> None:
        return None

    await kit.consumer([topic], handle)
    labels = {"topic": topic, "group": kit.topic("g")}
    for name in ("voltline_bus_messages_dead_lettered_total", "voltline_bus_messages_failed_total"):
        assert REGISTRY.get_sample_value(name, labels) == 0.0, name


async def test_invalid_bytes_go_straight_to_the_dead_letter_topic(kit: Any) -> None:
    [topic] = await kit.topics("garbage")
    await kit.producer.publish_raw(topic, b"\x00not an envelope", key=b"k")
    good = kit.heartbeat("CS-1")
    await kit.producer.publish(topic, good, key=b"k")
    handled: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope)

    await kit.consumer([topic], handle)
    await kit.eventually(lambda: handled, what="the valid message")
    assert handled == [good]
    [dead] = await kit.read(Topics.dead_letter(topic), 1)
    assert dead.value == b"\x00not an envelope"
    assert h.as_dict(dead.headers)[h.DLQ_ATTEMPTS] == b"0"
    assert h.as_dict(dead.headers)[h.DLQ_ERROR_TYPE] == b"ValidationError"
    assert await _committed(kit, "g", topic, 2) == 2


async def test_per_key_order_is_preserved_through_retries(kit: Any) -> None:
    [topic] = await kit.topics("order", partitions=3)
    stations = [f"CS-{i}" for i in range(6)]
    per_station = 15
    batch = [
        Outgoing(topic, kit.heartbeat(s, message_id=str(n)), station_key(s))
        for n in range(per_station)
        for s in stations
    ]
    await kit.producer.publish_many(batch)
    seen: dict[str, list[int]] = defaultdict(list)
    failed_once: set[str] = set()
    rng = random.Random(7)

    async def handle(envelope: Envelope) -> None:
        await asyncio.sleep(rng.random() / 200)
        n = int(envelope.message_id or "0")
        if n % 4 == 1 and str(envelope.event_id) not in failed_once:
            failed_once.add(str(envelope.event_id))
            raise RuntimeError("transient")
        seen[envelope.station_id or ""].append(n)

    await kit.consumer([topic], handle, backoff_initial=0.01)
    await kit.eventually(lambda: sum(map(len, seen.values())) == len(batch), what="all messages")
    for station in stations:
        assert seen[station] == list(range(per_station)), station


async def test_graceful_stop_finishes_and_commits_the_in_flight_message(kit: Any) -> None:
    [topic] = await kit.topics("graceful")
    first, second = kit.heartbeat("CS-1"), kit.heartbeat("CS-1")
    await kit.producer.publish_many([Outgoing(topic, first, b"CS-1"), Outgoing(topic, second, b"CS-1")])
    started = asyncio.Event()
    release = asyncio.Event()
    finished: list[Envelope] = []

    async def slow(envelope: Envelope) -> None:
        started.set()
        await release.wait()
        finished.append(envelope)

    consumer = await kit.consumer([topic], slow)
    await asyncio.wait_for(started.wait(), 15)
    stopping = asyncio.create_task(consumer.stop())
    await kit.eventually(lambda: consumer._stopping, what="the stop to begin")
    assert not stopping.done()  # waits for the in-flight handler
    release.set()
    await asyncio.wait_for(stopping, 15)
    assert finished == [first]  # the in-flight one finished; the next was not started
    assert await kit.committed("g", topic) == 1


async def test_dispatcher_routes_by_type_and_skips_unknown_types() -> None:
    calls: list[str] = []

    async def on_heartbeat(envelope: Envelope) -> None:
        calls.append(envelope.type)

    dispatch = Dispatcher({"station.heartbeat": on_heartbeat})
    base = {"schema_version": 1, "source": "t", "payload": {}}
    await dispatch(Envelope(type="station.heartbeat", **base))
    await dispatch(Envelope(type="station.unknown", **base))
    assert calls == ["station.heartbeat"]
    assert dispatch.event_types == {"station.heartbeat"}


async def test_a_dispatcher_consumer_skips_other_types_unparsed_and_commits_past_them(kit: Any) -> None:
    [topic] = await kit.topics("filtered")
    wanted = kit.heartbeat("CS-1")
    # Not even an envelope: parsed, it would be dead-lettered. Its header says nobody here wants it.
    await kit.producer.publish_raw(topic, b"not json", key=b"CS-1", headers=[(h.EVENT_TYPE, b"station.other")])
    await kit.producer.publish(topic, wanted, key=b"CS-1")
    received: list[Envelope] = []

    async def on_heartbeat(envelope: Envelope) -> None:
        received.append(envelope)

    await kit.consumer([topic], Dispatcher({"station.heartbeat": on_heartbeat}))
    await kit.eventually(lambda: received, what="delivery")
    assert received == [wanted]
    assert await _committed(kit, "g", topic, 2) == 2
    assert await kit.read(Topics.dead_letter(topic), 1, within=1) == []


async def test_a_long_batch_is_committed_as_it_goes(kit: Any) -> None:
    [topic] = await kit.topics("long-batch")
    await kit.producer.publish_many([Outgoing(topic, kit.heartbeat("CS-1"), b"CS-1") for _ in range(5)])
    handled: list[Envelope] = []
    release = asyncio.Event()

    async def slow_at_the_end(envelope: Envelope) -> None:
        if len(handled) == 4:
            await release.wait()
        handled.append(envelope)

    await kit.consumer([topic], slow_at_the_end, commit_interval=0.0)
    await kit.eventually(lambda: len(handled) == 4, what="four handled")
    # The fifth is still in its handler; the four before it are committed already.
    assert await _committed(kit, "g", topic, 4) == 4
    release.set()
    assert await _committed(kit, "g", topic, 5) == 5


async def _committed(kit: Any, group: str, topic: str, expected: int, within: float = 10.0) -> int | None:
    """The group's committed offset, polled until it reaches `expected` (commits follow handling)."""
    return await kit.eventually(
        lambda: kit.committed(group, topic), within, ok=lambda offset: offset == expected, what=f"offset {expected}"
    )


async def test_rebalance_hands_partitions_over_without_loss_duplicates_or_reordering(kit: Any) -> None:
    [topic] = await kit.topics("rebalance", partitions=4)
    stations = [f"CS-{i}" for i in range(8)]
    per_station = 12
    batch = [
        Outgoing(topic, kit.heartbeat(s, message_id=str(n)), station_key(s))
        for n in range(per_station)
        for s in stations
    ]
    await kit.producer.publish_many(batch)
    seen: dict[str, list[int]] = defaultdict(list)
    members: dict[str, set[str]] = defaultdict(set)

    def handler(member: str) -> Any:
        async def handle(envelope: Envelope) -> None:
            await asyncio.sleep(0.02)
            seen[envelope.station_id or ""].append(int(envelope.message_id or "0"))
            members[member].add(envelope.station_id or "")

        return handle

    await kit.consumer([topic], handler("a"))
    await kit.eventually(lambda: sum(map(len, seen.values())) >= 10, what="first member at work")
    await kit.consumer([topic], handler("b"))  # joining triggers a rebalance mid-stream
    await kit.eventually(lambda: sum(map(len, seen.values())) >= len(batch), within=30, what="all messages")
    # Barrier: one marker per station behind its messages; a redelivery would come before the marker.
    markers = [Outgoing(topic, kit.heartbeat(s, message_id=str(per_station)), station_key(s)) for s in stations]
    await kit.producer.publish_many(markers)
    await kit.eventually(lambda: all(seen[s][-1:] == [per_station] for s in stations), what="every marker")
    for station in stations:
        assert seen[station] == list(range(per_station + 1)), station  # in order, once each
    assert members["a"] and members["b"]  # both members really took part


async def test_run_until_cancelled_stops_gracefully(kit: Any) -> None:
    [topic] = await kit.topics("run")
    handled: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope)

    consumer = EventConsumer(
        kit.config,
        group_id=kit.topic("g"),
        topics=[topic],
        handler=handle,
        dead_letter=kit.producer,
        consumer_options={"session_timeout_ms": 6000, "heartbeat_interval_ms": 300},
    )
    running = asyncio.create_task(consumer.run())
    sent = kit.heartbeat("CS-1")
    await kit.producer.publish(topic, sent, key=b"CS-1")
    await kit.eventually(lambda: handled, what="delivery")
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    assert handled == [sent]
    assert await kit.committed("g", topic) == 1


async def test_unacknowledged_messages_raise_publish_error(kit: Any) -> None:
    [topic] = await kit.topics("errors")
    huge = Envelope(type="test.huge", schema_version=1, source="t", payload={"blob": "x" * 2_000_000})
    with pytest.raises(PublishError, match="MessageSizeTooLarge") as single:
        await kit.producer.publish(topic, huge, key=b"k")
    assert single.value.topic == topic

    ok = [Outgoing(topic, kit.heartbeat("CS-1"), b"k") for _ in range(3)]
    with pytest.raises(PublishError) as many:
        await kit.producer.publish_many([ok[0], Outgoing(topic, huge, b"k"), ok[1], ok[2]])
    assert many.value.failed == (1, 2, 3)  # nothing after the refused message was sent
    [record] = await kit.read(topic, 2, within=1.0)  # only the message before the refused one
    assert Envelope.from_bytes(record.value) == ok[0].envelope
