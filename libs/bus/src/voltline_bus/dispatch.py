"""Routing envelopes to handlers by event type, as a table that reads like a table of contents."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping

import structlog
from voltline_events import Envelope

log = structlog.get_logger()

EnvelopeHandler = Callable[[Envelope], Awaitable[None]]


class Dispatcher:
    """`Dispatcher({"station.boot_notification": handle_boot, ...})`, usable as an EventConsumer handler.

    Types without a handler are skipped (debug log): topics carry many event types and each
    consumer cares about a few. Handler exceptions propagate so the consumer retries/dead-letters.
    """

    def __init__(self, handlers: Mapping[str, EnvelopeHandler]) -> None:
        self._handlers = dict(handlers)

    @property
    def event_types(self) -> frozenset[str]:
        return frozenset(self._handlers)

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
