"""The trace of whatever added an outbox row goes on in the consumer of the event the relay published later."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from sqlalchemy.ext.asyncio import AsyncEngine
from voltline_bus import BusConfig, EventConsumer, Producer, TopicSpec, ensure_topics
from voltline_chassis.tracing import captured_spans
from voltline_devinfra.waiting import eventually
from voltline_events import Envelope
from voltline_store import OutboxRelay, UnitOfWork, session_factory


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with captured_spans() as exporter:
        yield exporter


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
async def test_a_relayed_event_continues_the_trace_that_added_it(
    spans: InMemorySpanExporter, engine: AsyncEngine, kafka: Any, topic_prefix: str
) -> None:
    topic = f"{topic_prefix}traced"
    config = BusConfig(bootstrap=kafka.bootstrap_servers, client_id=f"{topic_prefix}traced", idempotence=False)
    await ensure_topics(config, [TopicSpec(topic, partitions=1)])
    handled: list[Envelope] = []

    async def handle(envelope: Envelope) -> None:
        handled.append(envelope)

    async with Producer(config) as producer:
        relay = OutboxRelay(engine, producer, poll_interval=0.1, name=topic_prefix)
        consumer = EventConsumer(
            config, group_id=f"{topic_prefix}g", topics=[topic], handler=handle, dead_letter=producer
        )
        async with consumer:
            with trace.get_tracer("test").start_as_current_span("PUT /api/v1/stations/{station_id}/tariff") as api:
                async with UnitOfWork(session_factory(engine)) as uow:
                    envelope = Envelope(
                        type="tariff.assigned", schema_version=1, source="billing/test", station_id="CP-O1", payload={}
                    )
                    uow.outbox.add(topic, envelope, key=b"CP-O1")
                    await uow.commit()
            await relay.start()
            try:
                await eventually(lambda: bool(handled), 20)
            finally:
                await relay.stop()

    trace_id = api.get_span_context().trace_id
    finished = {s.name: s for s in spans.get_finished_spans() if s.context.trace_id == trace_id}
    created, processed = finished["create tariff.assigned"], finished["process tariff.assigned"]
    assert created.parent.span_id == api.get_span_context().span_id
    assert processed.kind is SpanKind.CONSUMER and processed.parent.span_id == created.context.span_id
    assert processed.attributes["voltline.station_id"] == "CP-O1"
    # The request's database work is in its trace: the outbox row's INSERT under the request's span.
    inserts = [
        s
        for s in spans.get_finished_spans()
        if s.context.trace_id == trace_id and s.name == "db INSERT" and "outbox" in s.attributes["db.query.text"]
    ]
    assert inserts and inserts[0].parent.span_id == api.get_span_context().span_id
    assert inserts[0].attributes["db.system.name"] == "sqlite"
    assert handled[0].traceparent is not None and f"{trace_id:032x}" in handled[0].traceparent
