"""Request/reply over Kafka against a real broker."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import pytest
from prometheus_client import REGISTRY
from structlog.testing import capture_logs
from voltline_bus import BusConfig, Dispatcher, Producer, RequestReplyClient, RequestTimeout, reply
from voltline_events import Envelope, decode_payload, envelope_for, station_key
from voltline_events.payloads import BootDecision, BootDecisionRequested


def boot_request(station_id: str, serial: str = "S1") -> Envelope:
    request = BootDecisionRequested(ocpp_version="ocpp1.6", vendor="ACME", model="X", serial_number=serial)
    return envelope_for(request, source="gateway/1", station_id=station_id)


def late_replies(rpc: RequestReplyClient) -> float:
    return REGISTRY.get_sample_value("voltline_bus_late_replies_total", {"reply_topic": rpc.reply_topic}) or 0.0


@pytest.fixture
async def rpc(kit: Any) -> AsyncIterator[RequestReplyClient]:
    client = RequestReplyClient(kit.config, kit.producer, kit.topic("replies.gw-1"))
    await client.start()
    yield client
    await client.stop()


async def answer(producer: Producer, request: Envelope, *, reason: str | None = None) -> None:
    await reply(producer, request, BootDecision(status="Accepted", interval=300, reason=reason), source="auth/1")


async def test_request_reply_round_trip(kit: Any, rpc: RequestReplyClient) -> None:
    [requests] = await kit.topics("auth.requests")

    async def on_boot(request: Envelope) -> None:
        await answer(kit.producer, request, reason=decode_payload(request).serial_number)  # type: ignore[attr-defined]

    await kit.consumer([requests], Dispatcher({BootDecisionRequested.TYPE: on_boot}), group="auth")
    sent = boot_request("CS-1", serial="SN-42").model_copy(update={"correlation_id": "corr-given"})
    got = await rpc.request(requests, sent, key=station_key("CS-1"), timeout=10)

    assert got.type == BootDecision.TYPE
    assert got.correlation_id == "corr-given"  # a caller's correlation id is kept
    assert got.station_id == "CS-1"
    assert decode_payload(got) == BootDecision(status="Accepted", interval=300, reason="SN-42")
    [on_wire] = await kit.read(requests, 1)
    wire = Envelope.from_bytes(on_wire.value)
    assert wire.reply_to == rpc.reply_topic and wire.correlation_id == "corr-given"


def stage_count(stage: str) -> float:
    return REGISTRY.get_sample_value("voltline_bus_request_stage_seconds_count", {"stage": stage}) or 0.0


async def test_a_round_trip_says_where_its_time_went_and_replies_are_read_without_the_long_poll(
    kit: Any, rpc: RequestReplyClient
) -> None:
    """tansu sleeps through part of a fetch's max wait even when records are there (bench/request_reply):
    the reply reader asks for the short wait of `request_fetch_wait_ms`, not aiokafka's 500 ms."""
    consumer = rpc._follower._consumer  # the replies are read by a TopicFollower
    assert consumer is not None and consumer._fetch_max_wait_ms == kit.config.request_fetch_wait_ms == 10
    [requests] = await kit.topics("auth.requests")
    await kit.consumer([requests], Dispatcher({BootDecisionRequested.TYPE: lambda r: answer(kit.producer, r)}))
    stages = ("request_publish", "until_answered", "reply_publish", "reply_delivery")
    before = {stage: stage_count(stage) for stage in stages}
    await rpc.request(requests, boot_request("CS-S"), key=station_key("CS-S"), timeout=10)
    assert {stage: stage_count(stage) - before[stage] for stage in stages} == dict.fromkeys(stages, 1.0)


async def test_request_without_a_server_times_out(kit: Any, rpc: RequestReplyClient) -> None:
    [requests] = await kit.topics("auth.requests")
    started = time.monotonic()
    with pytest.raises(RequestTimeout) as caught:
        await rpc.request(requests, boot_request("CS-1"), key=b"CS-1", timeout=0.5)
    assert 0.5 <= time.monotonic() - started < 3
    [on_wire] = await kit.read(requests, 1)  # the request itself did go out, with a fresh correlation id
    assert Envelope.from_bytes(on_wire.value).correlation_id == caught.value.correlation_id


async def test_late_reply_is_dropped_and_the_client_keeps_working(kit: Any, rpc: RequestReplyClient) -> None:
    [requests] = await kit.topics("auth.requests")
    with pytest.raises(RequestTimeout):
        await rpc.request(requests, boot_request("CS-1"), key=b"CS-1", timeout=0.3)
    late_before = late_replies(rpc)
    [first] = await kit.read(requests, 1)
    await answer(kit.producer, Envelope.from_bytes(first.value), reason="late")
    await kit.eventually(lambda: late_replies(rpc) == late_before + 1, what="the late reply to be dropped")

    async def serve_second() -> None:
        records = await kit.read(requests, 2)
        await answer(kit.producer, Envelope.from_bytes(records[1].value), reason="on time")

    server = asyncio.create_task(serve_second())
    got = await rpc.request(requests, boot_request("CS-1"), key=b"CS-1", timeout=10)
    await server
    assert decode_payload(got).reason == "on time"  # type: ignore[attr-defined]


async def test_concurrent_requests_are_matched_by_correlation_id(kit: Any, rpc: RequestReplyClient) -> None:
    [requests] = await kit.topics("auth.requests", partitions=2)
    n = 20

    async def serve_in_reverse() -> None:
        records = await kit.read(requests, n)
        for record in reversed(records):
            request = Envelope.from_bytes(record.value)
            await answer(kit.producer, request, reason=decode_payload(request).serial_number)  # type: ignore[attr-defined]

    server = asyncio.create_task(serve_in_reverse())
    replies = await asyncio.gather(
        *(rpc.request(requests, boot_request(f"CS-{i}", serial=f"SN-{i}"), key=b"k", timeout=15) for i in range(n))
    )
    await server
    for i, got in enumerate(replies):
        assert got.station_id == f"CS-{i}"
        assert decode_payload(got).reason == f"SN-{i}"  # type: ignore[attr-defined]


async def test_reply_ignores_requests_without_reply_to() -> None:
    unstarted = Producer(BusConfig(bootstrap="127.0.0.1:1", client_id="t"))  # would raise if used
    with capture_logs() as logs:
        await answer(unstarted, boot_request("CS-1"))
    assert [entry["event"] for entry in logs] == ["request without reply_to/correlation_id; not replying"]


async def test_stop_releases_waiting_requests(config: BusConfig, kit: Any) -> None:
    [requests] = await kit.topics("auth.requests")
    client = RequestReplyClient(config, kit.producer, kit.topic("replies.gw-2"))
    await client.start()
    waiting = asyncio.create_task(client.request(requests, boot_request("CS-1"), key=b"CS-1", timeout=30))
    await kit.eventually(lambda: client._pending, what="the request to be waiting for its reply")
    await client.stop()
    with pytest.raises(RequestTimeout):
        await waiting


async def test_reply_topics_of_instances_that_are_gone_are_deleted(kit: Any) -> None:
    """A reply topic whose newest record is older than the stale age goes; a live, an idle-but-alive and
    a never-used one stay; keepalive records are never taken for replies."""
    from aiokafka import AIOKafkaProducer
    from voltline_bus import TopicSpec, ensure_topics

    prefix = kit.prefix
    gone, alive, unused = (f"{prefix}voltline.gateway.replies.{name}" for name in ("gw-old", "gw-1", "gw-new"))
    other = f"{prefix}voltline.session.events.v1"
    await ensure_topics(kit.config, [TopicSpec(t) for t in (gone, alive, unused, other)])
    raw = AIOKafkaProducer(bootstrap_servers=kit.config.bootstrap)
    await raw.start()
    try:
        four_hours_ago = int((time.time() - 4 * 3600) * 1000)
        for topic in (gone, other):
            await raw.send_and_wait(topic, b"old", timestamp_ms=four_hours_ago)
        await raw.send_and_wait(alive, b"", headers=[("voltline.keepalive", b"1")])  # another live instance
    finally:
        await raw.stop()

    mine = RequestReplyClient(kit.config, kit.producer, f"{prefix}voltline.session.replies.s-1", reap_prefix=prefix)
    await mine.start()
    try:
        from aiokafka.admin import AIOKafkaAdminClient

        admin = AIOKafkaAdminClient(bootstrap_servers=kit.config.bootstrap)
        await admin.start()
        try:
            for _ in range(100):  # the reaper runs right after the client's start-up
                names = set(await admin.list_topics())
                if gone not in names:
                    break
                await asyncio.sleep(0.2)
        finally:
            await admin.close()
        assert gone not in names
        assert {alive, unused, other, mine.reply_topic} <= names
        assert late_replies(mine) == 0
    finally:
        await mine.stop()
