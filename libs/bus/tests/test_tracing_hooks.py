"""The bus's tracing hooks without a broker: nothing while tracing is off; a stamped envelope's context in its
headers; a batch span linked to each event's trace."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from voltline_bus import tracing
from voltline_bus.headers import envelope_headers
from voltline_chassis.tracing import captured_spans
from voltline_events import Envelope


def _envelope(station_id: str = "CP-1") -> Envelope:
    return Envelope(type="station.heartbeat", schema_version=1, source="test", station_id=station_id, payload={})


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    with captured_spans() as exporter:
        yield exporter


def test_off_by_default_nothing_is_added() -> None:
    envelope = _envelope()
    assert tracing.stamped(envelope) is envelope
    assert [name for name, _ in envelope_headers(envelope)] == ["event_type", "schema_version", "event_id"]
    assert b"traceparent" not in envelope.to_bytes()


def test_a_stamped_envelope_carries_a_producer_span_in_field_and_header(spans: InMemorySpanExporter) -> None:
    with trace.get_tracer("test").start_as_current_span("ocpp Heartbeat") as call:
        stamped = tracing.stamped(_envelope())
    (created,) = [s for s in spans.get_finished_spans() if s.name == "create station.heartbeat"]
    assert created.parent.span_id == call.get_span_context().span_id
    assert stamped.traceparent is not None and stamped.traceparent.split("-")[2] == f"{created.context.span_id:016x}"
    assert ("traceparent", stamped.traceparent.encode()) in envelope_headers(stamped)
    assert tracing.stamped(stamped) is stamped  # the outbox stamped it: the relay keeps that context
    assert Envelope.from_bytes(stamped.to_bytes()).traceparent == stamped.traceparent


def test_events_published_outside_any_trace_start_none(spans: InMemorySpanExporter) -> None:
    envelope = _envelope()
    assert tracing.stamped(envelope) is envelope  # a presence beat, a timer: no trace of one span each
    assert not spans.get_finished_spans()


def test_a_batch_span_links_every_events_trace(spans: InMemorySpanExporter) -> None:
    envelopes = []
    for station in ("CP-1", "CP-2"):
        with trace.get_tracer("test").start_as_current_span(f"ocpp Heartbeat {station}"):
            envelopes.append(tracing.stamped(_envelope(station)))
    with tracing.consuming_batch("process analytics batch", [*envelopes, _envelope("CP-untraced")]):
        pass
    (batch,) = [s for s in spans.get_finished_spans() if s.name == "process analytics batch"]
    linked = {f"{link.context.trace_id:032x}" for link in batch.links}
    assert linked == {e.traceparent.split("-")[1] for e in envelopes if e.traceparent}
    assert batch.attributes["messaging.batch.message_count"] == 3
