"""Typed event payloads, their versions, and upcasting of old versions.

Every payload class names its `TYPE` and `VERSION`. A breaking change adds a new class with the next
version and an upcaster from the previous one, so a consumer written for the newest version still
reads events that older producers (or an old backlog) put on the bus.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, ClassVar, TypeVar, cast

from pydantic import BaseModel, ConfigDict

from voltline_events.envelope import Envelope

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class Event(BaseModel):
    """Base of every event payload.

    Unknown fields are ignored, so adding an optional field is a compatible change that old
    consumers survive; removing or retyping a field is breaking and needs a new VERSION.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    TYPE: ClassVar[str]
    VERSION: ClassVar[int]


E = TypeVar("E", bound=type[Event])

_MODELS: dict[tuple[str, int], type[Event]] = {}
_UPCASTERS: dict[tuple[str, int], Upcaster] = {}
_LATEST: dict[str, int] = {}  # newest registered version per type (decode_payload asks for every event)
# (type, newest version) -> the model's core validator: decode_payload's path for every current event, without
# model_validate's keyword options (~0.8 us of a 1-5 us payload) or the version lookups. Valid for `_newest_of`
# only, and emptied by every registration (tests swap and extend the registry).
_NEWEST: dict[tuple[str, int], Callable[[Any], Any]] = {}
_newest_of: object = None


class UnknownEventError(ValueError):
    """An envelope names a type or version this build does not know."""


def event(cls: E) -> E:
    """Class decorator that registers a payload model under its TYPE and VERSION."""
    key = (cls.TYPE, cls.VERSION)
    if key in _MODELS and _MODELS[key] is not cls:
        raise ValueError(f"event {key} registered twice")
    _MODELS[key] = cls
    _LATEST[cls.TYPE] = max(cls.VERSION, _LATEST.get(cls.TYPE, cls.VERSION))
    _NEWEST.clear()
    return cls


def upcaster(event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
    """Register a function turning a payload of `from_version` into one of `from_version + 1`."""

    def register(fn: Upcaster) -> Upcaster:
        _UPCASTERS[(event_type, from_version)] = fn
        return fn

    return register


def registered_events() -> dict[tuple[str, int], type[Event]]:
    return dict(_MODELS)


def latest_version(event_type: str) -> int:
    latest = _LATEST.get(event_type)
    if latest is not None and (event_type, latest) in _MODELS:
        return latest
    versions = [v for (t, v) in _MODELS if t == event_type]  # the registry was swapped (tests): scan it
    if not versions:
        raise UnknownEventError(f"unknown event type {event_type!r}")
    return max(versions)


def decode_payload(envelope: Envelope) -> Event:
    """Validate an envelope's payload as the newest version of its type, upcasting older ones."""
    global _newest_of
    if _newest_of is _MODELS:
        validate = _NEWEST.get((envelope.type, envelope.schema_version))
        if validate is not None:
            return cast(Event, validate(envelope.payload))
    else:
        _NEWEST.clear()
        _newest_of = _MODELS
    return _decode_payload(envelope)


def _decode_payload(envelope: Envelope) -> Event:
    """The general path: look the versions up, upcast, validate; remembers the newest versions' validators."""
    event_type, version, payload = envelope.type, envelope.schema_version, envelope.payload
    target = latest_version(event_type)
    if version > target:
        raise UnknownEventError(f"{event_type} v{version} is newer than this build knows (v{target})")
    while version < target:
        step = _UPCASTERS.get((event_type, version))
        if step is None:
            raise UnknownEventError(f"no upcaster for {event_type} v{version}")
        payload = step(payload)
        version += 1
    model = _MODELS[(event_type, target)]
    if envelope.schema_version == target and model.__pydantic_complete__:
        _NEWEST[(event_type, target)] = model.__pydantic_validator__.validate_python
    return model.model_validate(payload)


def envelope_for(
    payload: Event,
    *,
    source: str,
    station_id: str | None = None,
    correlation_id: str | None = None,
    session_id: str | None = None,
    message_id: str | None = None,
    reply_to: str | None = None,
) -> Envelope:
    return Envelope(
        type=payload.TYPE,
        schema_version=payload.VERSION,
        source=source,
        station_id=station_id,
        correlation_id=correlation_id,
        session_id=session_id,
        message_id=message_id,
        reply_to=reply_to,
        payload=payload.model_dump(mode="json", exclude_none=True),
    )
