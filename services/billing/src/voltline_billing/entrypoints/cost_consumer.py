"""The cost consumer (its own group): session events and billing's own events in, cost announcements and
station cost messages out (service_layer/costs.py)."""

from __future__ import annotations

from voltline_bus import Dispatcher
from voltline_events import Envelope
from voltline_events.payloads import CdrCreated, SessionCostUpdated, SessionStarted, SessionUpdated

from voltline_billing.service_layer import costs as uc


def build_cost_dispatcher(c: uc.CostsContext) -> Dispatcher:
    dispatcher = Dispatcher()

    @dispatcher.on
    async def started(p: SessionStarted, envelope: Envelope) -> None:
        await uc.session_started(
            c,
            uc.SessionStart(
                p.session_id,
                p.station_id,
                p.evse_id,
                p.connector_id,
                p.transaction_id,
                p.ocpp_version,
                p.id_token,
                p.driver_id,
                p.started_at,
            ),
        )

    @dispatcher.on
    async def updated(p: SessionUpdated, envelope: Envelope) -> None:
        await uc.session_updated(c, p.session_id, p.energy_wh, p.at, p.transaction_id)

    @dispatcher.on
    async def cdr(p: CdrCreated, envelope: Envelope) -> None:
        await uc.cdr_created(c, p)

    @dispatcher.on
    async def cost(p: SessionCostUpdated, envelope: Envelope) -> None:
        await uc.show(c, p)

    return dispatcher
