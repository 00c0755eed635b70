"""W3C trace context across Kafka: the small hooks the bus runs when it writes and reads an event.

Only the OpenTelemetry API is used here; `voltline_chassis.tracing` installs the SDK (exporter, sampler) and
calls `enable()`. Until then every hook costs one boolean test, so `make run` and the benchmarks pay nothing.

A published event gets a PRODUCER span `create <event type>`, a child of whatever span is current (an OCPP
call at the gateway, an HTTP request, the handling of another event). Its context travels twice: in the
`traceparent` Kafka header (the W3C name, what Kafka tooling reads) and in the envelope's
`traceparent` field, which survives what headers do not: the outbox table, and readers that look only at
the value (the gateway's command tail). A consumer handles the event inside a CONSUMER span
`process <event type>` whose parent is that context, so one station frame yields one trace.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from typing import Any

from aiokafka import ConsumerRecord
from opentelemetry import propagate, trace
from opentelemetry.trace import SpanKind
from voltline_events import Envelope

TRACEPARENT = "traceparent"
TRACESTATE = "tracestate"
_CARRIED = (TRACEPARENT, TRACESTATE)

# Attribute names: OpenTelemetry's messaging conventions where they exist, `voltline.*`/`ocpp.*` for ours.
STATION_ID = "voltline.station_id"
SESSION_ID = "voltline.session_id"
EVENT_TYPE = "voltline.event_type"
CORRELATION_ID = "voltline.correlation_id"
MESSAGE_ID = "ocpp.message_id"

__all__ = [
    "CORRELATION_ID",
    "EVENT_TYPE",
    "MESSAGE_ID",
    "SESSION_ID",
    "STATION_ID",
    "TRACEPARENT",
    "TRACESTATE",
    "SpanKind",
    "carrier_headers",
    "consumed",
    "consuming",
    "consuming_batch",
    "enable",
    "enabled",
    "envelope_attributes",
    "produced",
    "stamped",
    "traced",
]

_enabled = False
_tracer = trace.get_tracer("voltline.bus")


def enable(on: bool = True) -> None:
    """Turn the hooks on (voltline_chassis.tracing does, once a tracer provider is installed)."""
    global _enabled
    _enabled = on


def enabled() -> bool:
    return _enabled


def envelope_attributes(envelope: Envelope) -> dict[str, str]:
    """What a span about this event is tagged with: the station, session and OCPP message it is about."""
    values = {
        EVENT_TYPE: envelope.type,
        "messaging.message.id": str(envelope.event_id),
        STATION_ID: envelope.station_id,
        SESSION_ID: envelope.session_id,
        MESSAGE_ID: envelope.message_id,
        CORRELATION_ID: envelope.correlation_id,
    }
    return {k: v for k, v in values.items() if v is not None}


def produced(event_type: str, attributes: Mapping[str, str]) -> dict[str, str]:
    """Start and end a PRODUCER span for one event; return its W3C carrier.

    Empty when tracing is off, or when no trace is under way: traces start at a station's frame or an API
    request, not at every presence beat or timer of a service."""
    if not _enabled or not trace.get_current_span().get_span_context().is_valid:
        return {}
    carrier: dict[str, str] = {}
    with _tracer.start_as_current_span(
        f"create {event_type}",
        kind=SpanKind.PRODUCER,
        attributes={"messaging.system": "kafka", "messaging.operation.type": "create", **attributes},
    ):
        propagate.inject(carrier)
    return carrier


def stamped(envelope: Envelope) -> Envelope:
    """The envelope carrying the trace context of its publication (as it is when tracing is off or already
    stamped, e.g. by the outbox before the relay publishes it)."""
    if not _enabled or envelope.traceparent is not None:
        return envelope
    carrier = produced(envelope.type, envelope_attributes(envelope))
    if TRACEPARENT not in carrier:
        return envelope
    return envelope.model_copy(update={"traceparent": carrier[TRACEPARENT]})


def carrier_headers(carrier: Mapping[str, str]) -> list[tuple[str, bytes]]:
    return [(name, value.encode()) for name, value in carrier.items() if name in _CARRIED]


@contextmanager
def consuming(
    envelope: Envelope,
    headers: Iterable[tuple[str, bytes]] | None = None,
    *,
    name: str | None = None,
    kind: SpanKind = SpanKind.CONSUMER,
    attributes: Mapping[str, Any] | None = None,
) -> Iterator[None]:
    """Run the block in a span (default `process <event type>`) continuing the event's trace.

    The context comes from the W3C headers, else from the envelope's `traceparent`; without either the span
    starts a trace of its own. An exception leaving the block is recorded on the span and re-raised.
    """
    if not _enabled:
        yield
        return
    carrier = {k: v.decode("latin-1") for k, v in headers or () if k in _CARRIED}
    if TRACEPARENT not in carrier and envelope.traceparent is not None:
        carrier = {TRACEPARENT: envelope.traceparent}
    with _tracer.start_as_current_span(
        name or f"process {envelope.type}",
        context=propagate.extract(carrier),
        kind=kind,
        attributes={**envelope_attributes(envelope), **(attributes or {})},
    ):
        yield


def consumed(envelope: Envelope, record: ConsumerRecord, group: str) -> AbstractContextManager[None]:
    """`consuming` for a record a consumer group read, tagged with where it was read from."""
    if not _enabled:
        return nullcontext()
    where = {
        "messaging.system": "kafka",
        "messaging.operation.type": "process",
        "messaging.destination.name": record.topic,
        "messaging.consumer.group.name": group,
        "messaging.destination.partition.id": str(record.partition),
        "messaging.kafka.offset": record.offset,
    }
    return consuming(envelope, record.headers, attributes=where)


@contextmanager
def traced(
    name: str, *, kind: SpanKind = SpanKind.INTERNAL, attributes: Mapping[str, Any] | None = None
) -> Iterator[None]:
    """A span around the block as a child of the current one, when tracing is on (a service's own spans:
    the gateway's OCPP calls and commands)."""
    if not _enabled:
        yield
        return
    with _tracer.start_as_current_span(name, kind=kind, attributes=attributes):
        yield


_MAX_LINKS = 128


@contextmanager
def consuming_batch(
    name: str, envelopes: Sequence[Envelope], attributes: Mapping[str, Any] | None = None
) -> Iterator[None]:
    """One CONSUMER span for a batch handled together (analytics' faust worker), linked to the trace of each
    of its events (up to 128): a span has one parent, but the batch belongs to every event's story."""
    if not _enabled:
        yield
        return
    links = []
    for envelope in envelopes[:_MAX_LINKS]:
        if envelope.traceparent is not None:
            context = trace.get_current_span(propagate.extract({TRACEPARENT: envelope.traceparent})).get_span_context()
            if context.is_valid:
                links.append(trace.Link(context, {EVENT_TYPE: envelope.type}))
    with _tracer.start_as_current_span(
        name,
        kind=SpanKind.CONSUMER,
        links=links,
        attributes={"messaging.batch.message_count": len(envelopes), **(attributes or {})},
    ):
        yield
