from __future__ import annotations

from typing import Any, ClassVar

import pytest
from pydantic import ValidationError
from voltline_events import (
    Envelope,
    Event,
    UnknownEventError,
    decode_payload,
    envelope_for,
    event,
    registry,
    upcaster,
)
from voltline_events.payloads import BootDecision


def test_decode_round_trip() -> None:
    env = envelope_for(BootDecision(status="Accepted", interval=300), source="auth/1", correlation_id="c1")
    decoded = decode_payload(Envelope.from_bytes(env.to_bytes()))
    assert decoded == BootDecision(status="Accepted", interval=300)


def test_old_version_is_upcast_to_the_newest(monkeypatch: pytest.MonkeyPatch) -> None:
    # Register the demo types in throwaway copies so they do not leak into the schema tests.
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_UPCASTERS", dict(registry._UPCASTERS))
    monkeypatch.setattr(registry, "_LATEST", dict(registry._LATEST))

    @event
    class _DemoV1(Event):
        TYPE: ClassVar[str] = "test.demo"
        VERSION: ClassVar[int] = 1
        kwh: float

    old = envelope_for(_DemoV1(kwh=1.5), source="s")
    assert decode_payload(old) == decode_payload(old) == _DemoV1(kwh=1.5)  # the second through the cached validator

    @event
    class _DemoV2(Event):
        TYPE: ClassVar[str] = "test.demo"
        VERSION: ClassVar[int] = 2
        wh: int

    @upcaster("test.demo", 1)
    def _v1_to_v2(p: dict[str, Any]) -> dict[str, Any]:
        return {"wh": round(p["kwh"] * 1000)}

    assert decode_payload(old) == _DemoV2(wh=1500)  # upcast: a registration drops v1's cached validator
    new = envelope_for(_DemoV2(wh=1), source="s")
    assert decode_payload(new) == _DemoV2(wh=1)
    monkeypatch.undo()
    with pytest.raises(UnknownEventError):  # nor does the swapped registry's cache outlive it
        decode_payload(new)


def test_unknown_type_and_future_version_are_refused() -> None:
    env = envelope_for(BootDecision(status="Accepted", interval=1), source="s")
    with pytest.raises(UnknownEventError):
        decode_payload(env.model_copy(update={"type": "nope"}))
    with pytest.raises(UnknownEventError):
        decode_payload(env.model_copy(update={"schema_version": 99}))


def test_envelope_requires_aware_time_and_ignores_fields_it_does_not_know() -> None:
    env = Envelope.model_validate_json(b'{"type":"x","schema_version":1,"source":"s","payload":{},"newer":1}')
    assert env.type == "x" and "newer" not in env.model_dump()
    with pytest.raises(ValidationError):
        Envelope(type="x", schema_version=1, source="s", payload={}, time="2026-01-01T00:00:00")  # type: ignore[arg-type]
