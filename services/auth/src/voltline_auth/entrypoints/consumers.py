"""What the auth service does with the events and requests it consumes: a handler table."""

from __future__ import annotations

from voltline_bus import Dispatcher, Producer, reply
from voltline_events import Envelope

from voltline_auth.domain.stations import BootPolicy
from voltline_auth.service_layer import stations as uc


def build_dispatcher(ctx: uc.StationContext, policy: BootPolicy, producer: Producer) -> Dispatcher:
    async def boot_decision_requested(request: Envelope) -> None:
        if request.station_id is None:
            raise ValueError("a boot decision request must name its station")
        decision = await uc.answer_boot(ctx, policy, request.station_id)
        await reply(producer, request, decision, source=ctx.source)

    return Dispatcher(
        {
            "auth.boot_decision.requested": boot_decision_requested,
        }
    )
