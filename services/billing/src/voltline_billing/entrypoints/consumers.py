"""What billing does with the session service's events: typed handlers (the library decodes and narrows;
the use cases keep their own inbox check, in their unit of work).

Fields beyond the minimum contract (periods, energy_timeline, ...) are read defensively: an older
session service that does not send them still gets its sessions priced (one charging period, energy
spread evenly).
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

from voltline_bus import Dispatcher
from voltline_chassis import get_logger
from voltline_events import Envelope
from voltline_events.payloads import SessionEnded, SessionStarted, SessionUpdated

from voltline_billing.domain.usage import Period, Reading
from voltline_billing.service_layer import costs as cost_uc
from voltline_billing.service_layer import sessions as uc
from voltline_billing.service_layer.context import BillingContext
from voltline_billing.service_layer.costs import CostsContext, SessionStart

log = get_logger(__name__)


def _started(envelope: Envelope, p: Any) -> uc.Started:
    return uc.Started(
        event_id=envelope.event_id,
        session_id=p.session_id,
        station_id=p.station_id,
        evse_id=getattr(p, "evse_id", None),
        connector_id=getattr(p, "connector_id", None),
        id_token=getattr(p, "id_token", None),
        driver_id=getattr(p, "driver_id", None),
        started_at=p.started_at,
    )


async def _costs_quietly(what: str, session_id: str, work: Awaitable[None]) -> None:
    """The cost path never costs billing an event: inside a batch its failure still rolls the batch back (the
    consumer then handles the event alone), where it is only logged and the CDR path's work is kept."""
    try:
        await work
    except Exception as exc:
        log.warning("session_cost_not_updated", event_type=what, session_id=session_id, error=repr(exc))


def build_dispatcher(ctx: BillingContext, costs: CostsContext | None = None) -> Dispatcher:
    """Billing's consumer of the session events; with `costs`, also the cost path's part of them (its
    `session_costs` rows and running-cost announcements, ADR 0030): each event is read and decoded once."""
    dispatcher = Dispatcher()

    @dispatcher.on
    async def started(p: SessionStarted, envelope: Envelope) -> None:
        await uc.session_started(ctx, _started(envelope, p))
        if costs is not None:
            start = SessionStart(p.session_id, p.station_id, p.evse_id, p.connector_id, p.transaction_id,
                                 p.ocpp_version, p.id_token, p.driver_id, p.started_at)  # fmt: skip
            await _costs_quietly("session.started", p.session_id, cost_uc.session_started(costs, start))

    @dispatcher.on
    async def updated(p: SessionUpdated, envelope: Envelope) -> None:
        await uc.session_updated(ctx, p.session_id, p.energy_wh, getattr(p, "power_w", None), p.at)
        if costs is not None:
            work = cost_uc.session_updated(costs, p.session_id, p.energy_wh, p.at, p.transaction_id)
            await _costs_quietly("session.updated", p.session_id, work)

    @dispatcher.on
    async def ended(p: SessionEnded, envelope: Envelope) -> None:
        periods = tuple(Period(x.state, x.start, x.end, x.energy_wh) for x in getattr(p, "periods", None) or ())
        timeline = tuple(Reading(x.at, x.energy_wh) for x in getattr(p, "energy_timeline", None) or ())
        await uc.session_ended(
            ctx,
            uc.Ended(
                event_id=envelope.event_id,
                started=_started(envelope, p),
                ended_at=p.ended_at,
                energy_wh=p.energy_wh,
                stop_reason=getattr(p, "stop_reason", None),
                periods=periods,
                timeline=timeline,
                revision=getattr(p, "revision", 1) or 1,
            ),
        )

    return dispatcher
