"""Routing envelopes to handlers by event type, as a table that reads like a table of contents.

Two ways to declare a handler, on one Dispatcher:

- the original table of envelope handlers, `Dispatcher({"station.boot_notification": handle_boot})`,
  where `handle_boot(envelope)` decodes for itself;
- typed handlers, `dispatcher.on(record_transaction)` with `async def record_transaction(payload:
  StationTransaction, envelope: Envelope)`: the event type comes from the payload annotation (or
  `on(handler, StationTransaction)`), and the library decodes the payload (upcasting older versions),
  narrows it to that class, and -- when the Dispatcher was given an `inbox` -- runs the handler only the
  first time it sees the event, inside the inbox's transaction, so a handler cannot forget idempotency.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager
from typing import Any, TypeVar, get_type_hints

import structlog
from voltline_events import Envelope, Event, decode_payload

log = structlog.get_logger()

P = TypeVar("P", bound=Event)
EnvelopeHandler = Callable[[Envelope], Awaitable[None]]
TypedHandler = Callable[[P, Envelope], Awaitable[None]]
# `async with inbox(envelope) as first:` -- True the first time the event is seen. The handler runs inside the
# block, so the marker and the handler's effects commit (or roll back) together (voltline_store.inbox_guard).
InboxGuard = Callable[[Envelope], AbstractAsyncContextManager[bool]]


class Dispatcher:
    """`Dispatcher({"station.boot_notification": handle_boot, ...})`, usable as an EventConsumer handler.

    Types without a handler are skipped (debug log): topics carry many event types and each
    consumer cares about a few. Handler exceptions propagate so the consumer retries/dead-letters.
    """

    def __init__(
        self, handlers: Mapping[str, EnvelopeHandler] | None = None, *, inbox: InboxGuard | None = None
    ) -> None:
        self._handlers: dict[str, EnvelopeHandler] = dict(handlers or {})
        self._inbox = inbox

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._handlers)

    def on(
        self, handler: TypedHandler[P], payload_type: type[P] | None = None, *, once: bool = True
    ) -> TypedHandler[P]:
        """Route `payload_type` (default: the annotation of the handler's first parameter) to `handler`.

        With an `inbox`, the handler runs only the first time an event is seen (`once=False`: every
        time, for handlers that are idempotent by nature). Returns the handler, so it works as a decorator.
        """
        kind = payload_type or _payload_type(handler)
        if kind.TYPE in self._handlers:
            raise ValueError(f"{kind.TYPE} already has a handler")
        self._handlers[kind.TYPE] = self._typed(kind, handler, guarded=once and self._inbox is not None)
        return handler

    def _typed(self, kind: type[P], handler: TypedHandler[P], *, guarded: bool) -> EnvelopeHandler:
        inbox = self._inbox

        async def handle(envelope: Envelope) -> None:
            payload = decode_payload(envelope)
            if not isinstance(payload, kind):  # a registry mix-up, not bad data: let the consumer dead-letter it
                raise TypeError(f"{envelope.type} decoded as {type(payload).__name__}, not {kind.__name__}")
            if not guarded or inbox is None:
                await handler(payload, envelope)
                return
            async with inbox(envelope) as first:
                if first:
                    await handler(payload, envelope)
                else:
                    log.debug("event seen before; skipped", event_type=envelope.type, event_id=str(envelope.event_id))

        return handle

    async def __call__(self, envelope: Envelope) -> None:
        handler = self._handlers.get(envelope.type)
        if handler is None:
            log.debug(
                "no handler for event type; skipped",
                event_type=envelope.type,
                event_id=str(envelope.event_id),
                station_id=envelope.station_id,
                correlation_id=envelope.correlation_id,
            )
            return
        await handler(envelope)


def _payload_type(handler: Callable[..., Any]) -> type[Any]:
    """The class annotated on the handler's first parameter."""
    first = next(iter(inspect.signature(handler).parameters), None)
    kind = get_type_hints(handler).get(first) if first is not None else None
    if not (isinstance(kind, type) and issubclass(kind, Event) and hasattr(kind, "TYPE")):
        raise TypeError(f"{handler!r}: annotate its first parameter with the event class, or pass it to on()")
    return kind
