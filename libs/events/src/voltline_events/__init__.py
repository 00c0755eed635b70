"""voltline's event contracts: the envelope, typed payloads, and topic names.

The JSON Schemas under the repository's `schemas/` folder are generated from these models
(`python -m voltline_events.schemagen`), and a test fails when the two drift.
"""

from voltline_events import payloads
from voltline_events.envelope import Envelope, utcnow
from voltline_events.registry import (
    Event,
    UnknownEventError,
    decode_payload,
    envelope_for,
    event,
    registered_events,
    upcaster,
)
from voltline_events.topics import Topics, station_key

__all__ = [
    "Envelope",
    "Event",
    "Topics",
    "UnknownEventError",
    "decode_payload",
    "envelope_for",
    "event",
    "payloads",
    "registered_events",
    "station_key",
    "upcaster",
    "utcnow",
]
