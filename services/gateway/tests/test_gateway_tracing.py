"""Tracing over real Kafka: one station call is one trace, from the gateway's OCPP span through the event's
W3C headers to a consumer group's span; a command continues its requester's trace up to the station."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio
from gateway_testing import FakeAuth, Operator, RunningGateway, charger, eventually, running_gateway
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from voltline_bus import BusConfig, EventConsumer, Producer
from voltline_chassis.tracing import captured_spans
from voltline_events import Envelope, Topics

pytestmark = pytest.mark.asyncio(loop_scope="module")

BOOT_16 = {"chargePointVendor": "ACME", "chargePointModel": "Volt-22"}


@pytest.fixture(scope="module")
def spans() -> Iterator[InMemorySpanExporter]:
    with captured_spans() as exporter:  # later tests in this process run untraced, as under `make run`
        yield exporter


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def system(
    kafka: Any, spans: InMemorySpanExporter
) -> AsyncIterator[tuple[RunningGateway, FakeAuth, list[Envelope]]]:
    prefix = f"gwt-{uuid.uuid4().hex[:6]}."
    handled: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope)

    async with running_gateway(kafka, prefix) as gateway:
        auth = FakeAuth(kafka, prefix)
        await auth.start()
        config = BusConfig(bootstrap=kafka.bootstrap_servers, client_id="traced-consumer", idempotence=False)
        async with Producer(config) as dead_letters:
            topics = [Topics(prefix).station_events]
            consumer = EventConsumer(
                config, group_id=f"{prefix}sessions", topics=topics, handler=handle, dead_letter=dead_letters
            )
            # The batched path (one transaction per fetched run of events), as the services with a store use it.
            batched = EventConsumer(
                config,
                group_id=f"{prefix}billing",
                topics=topics,
                handler=_ignore,
                dead_letter=dead_letters,
                batch_scope=lambda _envelopes: contextlib.nullcontext(),
            )
            async with consumer, batched:
                try:
                    yield gateway, auth, handled
                finally:
                    await auth.stop()


async def _ignore(_envelope: Envelope) -> None:
    return None


def _named(spans: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in spans.get_finished_spans() if s.name == name]


async def test_one_station_call_is_one_trace_across_kafka(system: Any, spans: InMemorySpanExporter) -> None:
    gateway, auth, handled = system
    await auth.register("CP-T1")
    await eventually(lambda: gateway.internals.registry.get("CP-T1") is not None)
    async with charger(gateway.ocpp_url, "CP-T1") as cp:
        answer = await cp.call("BootNotification", BOOT_16)
        assert answer[2]["status"] == "Accepted"
    await eventually(lambda: any(e.type == "station.boot_notification" for e in handled))
    await eventually(lambda: len(_named(spans, "process station.boot_notification")) >= 2)

    (call,) = [s for s in _named(spans, "ocpp BootNotification") if s.attributes["voltline.station_id"] == "CP-T1"]
    assert call.kind is SpanKind.SERVER
    assert call.attributes["ocpp.message_id"] == answer[1]
    assert call.attributes["ocpp.version"] == "ocpp1.6"
    trace_id = call.context.trace_id
    # The event's span is a child of the call, and the consumer's span a child of the event's.
    (created,) = [s for s in _named(spans, "create station.boot_notification") if s.context.trace_id == trace_id]
    assert created.kind is SpanKind.PRODUCER and created.parent.span_id == call.context.span_id
    groups = {}
    for span in _named(spans, "process station.boot_notification"):
        if span.context.trace_id == trace_id:
            groups[span.attributes["messaging.consumer.group.name"].rsplit(".", 1)[-1]] = span
    assert set(groups) == {"sessions", "billing"}  # each consumer group, batched or not, continues the trace
    assert all(s.parent.span_id == created.context.span_id for s in groups.values())
    processed = groups["sessions"]
    assert processed.kind is SpanKind.CONSUMER
    assert processed.parent.is_remote
    assert processed.attributes["voltline.station_id"] == "CP-T1"
    assert processed.attributes["ocpp.message_id"] == answer[1]
    assert processed.attributes["messaging.consumer.group.name"].endswith("sessions")
    # The question to the auth service is part of the same trace.
    asked = [
        s for s in spans.get_finished_spans() if s.name.startswith("create auth.") and s.context.trace_id == trace_id
    ]
    assert asked and all(s.parent.span_id == call.context.span_id for s in asked)
    # The envelope carries the same context as the Kafka header the consumer read.
    (event,) = [e for e in handled if e.type == "station.boot_notification" and e.station_id == "CP-T1"]
    assert event.traceparent is not None
    assert event.traceparent.startswith(f"00-{trace_id:032x}-{created.context.span_id:016x}-")


async def test_a_command_continues_its_requesters_trace_to_the_station(
    system: Any, spans: InMemorySpanExporter
) -> None:
    gateway, auth, _ = system
    ops = Operator(auth)
    await ops.rpc.start()
    try:
        await auth.register("CP-T2")
        await eventually(lambda: gateway.internals.registry.get("CP-T2") is not None)
        async with charger(gateway.ocpp_url, "CP-T2") as cp:
            cp.answers["Reset"] = {"status": "Accepted"}
            await eventually(lambda: gateway.internals.presence.record("CP-T2") is not None)
            with trace.get_tracer("test").start_as_current_span("POST /api/v1/stations/{station_id}/commands") as api:
                result = await ops.command("CP-T2", "Reset", {"type": "Soft"})
            assert result.outcome == "answered"
    finally:
        await ops.rpc.stop()
    trace_id = api.get_span_context().trace_id
    (command,) = [s for s in _named(spans, "command Reset") if s.context.trace_id == trace_id]
    assert command.kind is SpanKind.CONSUMER and command.parent.is_remote
    assert command.attributes["voltline.station_id"] == "CP-T2"
    # The gateway's reply to the requester is part of the trace too.
    replies = [s for s in _named(spans, "create station.command_result") if s.context.trace_id == trace_id]
    assert replies and replies[0].parent.span_id == command.context.span_id
