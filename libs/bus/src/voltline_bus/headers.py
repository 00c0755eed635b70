"""Kafka header names the bus writes, so tools can route and inspect without parsing payloads."""

from __future__ import annotations

from collections.abc import Iterable

from voltline_events import Envelope

EVENT_TYPE = "event_type"
SCHEMA_VERSION = "schema_version"
EVENT_ID = "event_id"

DLQ_PREFIX = "dlq."
DLQ_ERROR = "dlq.error"
DLQ_ERROR_TYPE = "dlq.error_type"
DLQ_ORIGINAL_TOPIC = "dlq.original_topic"
DLQ_ORIGINAL_PARTITION = "dlq.original_partition"
DLQ_ORIGINAL_OFFSET = "dlq.original_offset"
DLQ_ATTEMPTS = "dlq.attempts"
DLQ_GROUP = "dlq.consumer_group"

Headers = list[tuple[str, bytes]]


def envelope_headers(envelope: Envelope) -> Headers:
    headers = [
        (EVENT_TYPE, envelope.type.encode()),
        (SCHEMA_VERSION, str(envelope.schema_version).encode()),
        (EVENT_ID, str(envelope.event_id).encode()),
    ]
    if envelope.traceparent is not None:  # W3C trace context (voltline_bus.tracing)
        headers.append(("traceparent", envelope.traceparent.encode()))
    return headers


def as_dict(headers: Iterable[tuple[str, bytes]] | None) -> dict[str, bytes]:
    """Last value wins, which is what readers of our own headers want."""
    return dict(headers or ())
