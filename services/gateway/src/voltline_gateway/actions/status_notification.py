"""StatusNotification (all versions): published as station.connector_status, answered once it is on Kafka."""

from __future__ import annotations

from typing import Any

from voltline_gateway.actions.context import CallContext
from voltline_gateway.domain.normalise import connector_status


async def handle(ctx: CallContext, payload: dict[str, Any]) -> dict[str, Any]:
    event = connector_status(ctx.ocpp_version, payload)
    await ctx.bus.publish(event, station_id=ctx.station_id, message_id=ctx.message_id)
    return {}
