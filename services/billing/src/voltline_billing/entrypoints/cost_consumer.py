"""The cost consumer (its own group) of billing's own events: final costs from `billing.cdr_created`, and every
`billing.session_cost_updated` sent to its station (service_layer/costs.py). The session events' part of the cost
path runs in billing's own consumer (entrypoints/consumers.py, ADR 0030)."""

from __future__ import annotations

from voltline_bus import Dispatcher
from voltline_events import Envelope
from voltline_events.payloads import CdrCreated, SessionCostUpdated

from voltline_billing.service_layer import costs as uc


def build_cost_dispatcher(c: uc.CostsContext) -> Dispatcher:
    dispatcher = Dispatcher()

    @dispatcher.on
    async def cdr(p: CdrCreated, envelope: Envelope) -> None:
        await uc.cdr_created(c, p)

    @dispatcher.on
    async def cost(p: SessionCostUpdated, envelope: Envelope) -> None:
        await uc.show(c, p)

    return dispatcher
