"""MeterValues (all versions): 1.6 readings of a transaction become a station.transaction update, every
other reading a station.meter_values event; answered once the event is on Kafka."""

from __future__ import annotations

from typing import Any

from voltline_gateway.actions.context import CallContext
from voltline_gateway.domain.normalise import meter_values


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    await ctx.bus.publish(meter_values(ctx.ocpp_version, payload), station_id=ctx.station_id, message_id=ctx.message_id)
    return {}
