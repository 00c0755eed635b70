"""Envelope bytes for the hot path, without building an Envelope model per message.

`voltline_events.envelope_for(...).to_bytes()` validates the envelope, dumps the payload to a dict and then
to JSON: three passes over a 1 KB meter reading. Here the payload is serialised once by its own model and
spliced into the envelope's JSON; the result is what Envelope.from_bytes reads (tests/test_envelopes.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from random import getrandbits

import orjson
from voltline_bus import tracing
from voltline_bus.headers import EVENT_ID, EVENT_TYPE, SCHEMA_VERSION, Headers
from voltline_events import Event
from voltline_events.envelope import ENVELOPE_VERSION

from voltline_gateway.domain.normalise import Prepared


def new_event_id() -> str:
    """A random (version 4) UUID. Event ids must be unique, not secret: the process's PRNG (seeded from the OS)
    does it without a system call per event."""
    bits = getrandbits(128) & ~(0xF000 << 64) & ~(0xC000 << 48) | (0x4000 << 64) | (0x8000 << 48)
    h = f"{bits:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def encode(
    event: Event | Prepared, *, source: str, station_id: str | None, message_id: str | None = None
) -> tuple[bytes, Headers]:
    """(value, headers) of the envelope carrying `event`, as the bus library would write them."""
    event_id = new_event_id()
    head: dict[str, object] = {
        "envelope_version": ENVELOPE_VERSION,
        "event_id": event_id,
        "type": event.TYPE,
        "schema_version": event.VERSION,
        "source": source,
        "time": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
    }
    if station_id is not None:
        head["station_id"] = station_id
    if message_id is not None:
        head["message_id"] = message_id
    if isinstance(event, Prepared):
        payload = orjson.dumps(event.payload)
    else:
        payload = event.__pydantic_serializer__.to_json(event, exclude_none=True)
    headers = [
        (EVENT_TYPE, event.TYPE.encode()),
        (SCHEMA_VERSION, str(event.VERSION).encode()),
        (EVENT_ID, event_id.encode()),
    ]
    if tracing.enabled():  # the station call's trace goes on in every consumer (voltline_bus.tracing)
        ids = {tracing.STATION_ID: station_id, tracing.MESSAGE_ID: message_id, "messaging.message.id": event_id}
        carrier = tracing.produced(event.TYPE, {k: v for k, v in ids.items() if v is not None})
        if tracing.TRACEPARENT in carrier:
            head["traceparent"] = carrier[tracing.TRACEPARENT]
            headers += tracing.carrier_headers(carrier)
    value = orjson.dumps(head)[:-1] + b',"payload":' + payload + b"}"
    return value, headers
