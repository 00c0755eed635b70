"""Envelope bytes for the hot path, without building an Envelope model per message.

`voltline_events.envelope_for(...).to_bytes()` validates the envelope, dumps the payload to a dict and then
to JSON: three passes over a 1 KB meter reading. Here the payload is serialised once by its own model and
spliced into the envelope's JSON; the result is what Envelope.from_bytes reads (tests/test_envelopes.py).
"""

from __future__ import annotations

from datetime import UTC, datetime
from functools import cache
from random import getrandbits
from time import time_ns

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


def envelope_time() -> str:
    """Now, as the envelope's `time`: what `datetime.now(UTC).isoformat()` writes with `Z`, the second's text
    made once a second (datetime.now with a zone and isoformat cost ~1.5 us per event)."""
    global _second, _second_text
    ns = time_ns()
    second, micro = divmod(ns // 1000, 1_000_000)
    if second != _second:
        _second_text = datetime.fromtimestamp(second, UTC).isoformat().removesuffix("+00:00")
        _second = second
    return f"{_second_text}.{micro:06d}Z" if micro else f"{_second_text}Z"


_second, _second_text = -1, ""


@cache
def _constants(event_type: str, version: int, source: str) -> tuple[bytes, bytes, bytes]:
    """What comes after the event id up to the time's text, and the type and version headers, per event type."""
    middle = (
        b'","type":' + orjson.dumps(event_type) + b',"schema_version":' + orjson.dumps(version)
        + b',"source":' + orjson.dumps(source) + b',"time":"'
    )  # fmt: skip
    return middle, event_type.encode(), str(version).encode()


_OPENING = b'{"envelope_version":' + orjson.dumps(ENVELOPE_VERSION) + b',"event_id":"'


def encode(
    event: Event | Prepared, *, source: str, station_id: str | None, message_id: str | None = None
) -> tuple[bytes, Headers]:
    """(value, headers) of the envelope carrying `event`, as the bus library would write them.

    The envelope's fields are written in a fixed order around the payload's JSON: the same bytes as
    `orjson.dumps` of the envelope's dict (tests/test_envelopes.py), without building that dict per event.
    """
    event_id = new_event_id()
    event_type = event.TYPE
    middle, type_header, version_header = _constants(event_type, event.VERSION, source)
    if isinstance(event, Prepared):
        payload = orjson.dumps(event.payload)
    else:
        payload = event.__pydantic_serializer__.to_json(event, exclude_none=True)
    headers = [(EVENT_TYPE, type_header), (SCHEMA_VERSION, version_header), (EVENT_ID, event_id.encode())]
    parts = [_OPENING, event_id.encode(), middle, envelope_time().encode(), b'"']
    if station_id is not None:
        parts += (b',"station_id":', orjson.dumps(station_id))
    if message_id is not None:
        parts += (b',"message_id":', orjson.dumps(message_id))
    if tracing.enabled():  # the station call's trace goes on in every consumer (voltline_bus.tracing)
        ids = {tracing.STATION_ID: station_id, tracing.MESSAGE_ID: message_id, "messaging.message.id": event_id}
        carrier = tracing.produced(event_type, {k: v for k, v in ids.items() if v is not None})
        if tracing.TRACEPARENT in carrier:
            parts += (b',"traceparent":', orjson.dumps(carrier[tracing.TRACEPARENT]))
            headers += tracing.carrier_headers(carrier)
    parts += (b',"payload":', payload, b"}")
    return b"".join(parts), headers
