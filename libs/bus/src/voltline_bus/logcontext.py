"""The consumed event's ids on every log line its handler writes, for one context variable set per event.

Setting structlog's context variables for each consumed event (event id as text, station, session, message,
correlation: up to five `ContextVar.set` and `reset`, and a `str(UUID)`) cost ~1.7 µs an event, 7% of the bus
floor (`bench.pipeline.bus`), for log lines that handlers rarely write. The consumer now sets one variable to the
envelope, and `merge_event_context` (a structlog processor, in `voltline_chassis.logging`'s chain right after
`merge_contextvars`) turns it into those fields only when a line is written. Fields bound explicitly (or with
structlog's context variables) win over the event's.
"""

from __future__ import annotations

from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

from voltline_events import Envelope

CURRENT_EVENT: ContextVar[Envelope | None] = ContextVar("voltline_bus_current_event", default=None)


def log_fields(envelope: Envelope) -> dict[str, str]:
    """The envelope's ids as log fields (`event_id`, and the station, session, message and correlation it names)."""
    fields = {"event_id": str(envelope.event_id)}
    if envelope.station_id is not None:
        fields["station_id"] = envelope.station_id
    if envelope.session_id is not None:
        fields["session_id"] = envelope.session_id
    if envelope.message_id is not None:
        fields["message_id"] = envelope.message_id
    if envelope.correlation_id is not None:
        fields["correlation_id"] = envelope.correlation_id
    return fields


def event_log_context() -> dict[str, str]:
    """The log fields of the event the current task is handling ({} outside a handler)."""
    envelope = CURRENT_EVENT.get()
    return {} if envelope is None else log_fields(envelope)


def merge_event_context(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: add the handled event's ids to the line (what is already on it stays)."""
    envelope = CURRENT_EVENT.get()
    if envelope is not None:
        for key, value in log_fields(envelope).items():
            event_dict.setdefault(key, value)
    return event_dict
