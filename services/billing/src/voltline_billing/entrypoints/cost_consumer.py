"""The cost consumer (its own group): session events and billing's own events in, cost announcements and
station cost messages out (service_layer/costs.py)."""

from __future__ import annotations

from voltline_bus import Dispatcher
from voltline_events import Envelope
from voltline_events.payloads import CdrCreated, SessionCostUpdated, SessionStarted, SessionUpdated

from voltline_billing.domain.cost_messages import messages_at_start
from voltline_billing.service_layer import costs as uc


def messages_station(envelope: Envelope) -> bool:
    """The cost consumer's events handled alone, between batches (`EventConsumer(solo=...)`): those that send
    the station a command and await its answer (up to `cost_command_timeout_s`), so a batch's transaction never
    waits on a station and a failed batch never sends twice. A start messages only 1.6 stations with a token
    and 2.1 stations; other starts (most) only record the session, in the batch."""
    if envelope.type == "billing.session_cost_updated":
        return True
    if envelope.type == "session.started":
        p = envelope.payload
        return messages_at_start(p.get("ocpp_version"), p.get("id_token"), p.get("transaction_id"))
    return False


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
